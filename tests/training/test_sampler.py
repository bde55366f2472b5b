"""Episodes: the batch is a token budget, an epoch's draws cover the pool, two views are disjoint."""

import numpy as np

from locus.data import EvaluationSet
from locus.training import TrainConfig
from locus.training.sampler import EpisodeSampler


def pool(models: int, evaluations: int, queries: int = 400) -> EvaluationSet:
    rng = np.random.default_rng(0)
    index = [np.sort(rng.choice(queries, size=evaluations, replace=False)) for _ in range(models)]
    return EvaluationSet(encoder="e", model_ids=[f"m{i}" for i in range(models)],
                         query_ids=[f"q{i}" for i in range(queries)], phi=np.zeros((queries, 4), np.float32),
                         query_index=index, scores=[rng.random(evaluations).astype(np.float32) for _ in index])


def sampler(data: EvaluationSet, **config) -> EpisodeSampler:
    counts = [len(s) for s in data.scores]
    return EpisodeSampler(data, TrainConfig(**config), seed=0, typical=int(np.median(counts)),
                          most_models=len(counts))


def test_small_contexts_put_more_models_in_a_step_within_the_token_budget():
    s = sampler(pool(300, 200), batch_tokens=4096, max_batch_models=256, target_size=64, consistency=0)
    small, large = s.batch_for(32), s.batch_for(128)
    assert small > large >= 2
    assert small * (32 + 64) <= 4096 and large * (128 + 64) <= 4096
    roomy = sampler(pool(300, 200), batch_tokens=10**6, max_batch_models=256, consistency=0)
    assert roomy.batch_for(32) == 256  # capped by max_batch_models


def test_an_epoch_of_draws_sees_every_model_once_before_any_twice():
    data = pool(50, 100)
    s = sampler(data, consistency=0)
    drawn = np.concatenate([s.next_models(count) for count in (7, 13, 30)])
    assert sorted(drawn) == list(range(50))
    step = s.next_models(40)  # the next round starts; no model twice in one step
    assert len(set(step)) == 40


def test_two_views_are_disjoint_subsets_and_the_targets_are_apart_from_both():
    s = sampler(pool(10, 200), target_size=64, consistency=0.1)
    episode = s.sample(size=50, count=4)
    assert episode.models == 4 and episode.context_index.shape == (8, 50)
    for b in range(4):
        first, second = set(episode.context_index[b].tolist()), set(episode.context_index[4 + b].tolist())
        target = set(episode.target_index[b].tolist())
        assert not first & second and not (first | second) & target
