"""The drift check, Ray-free, on the trained sample store: an unchanged model re-asked agrees with
what is stored; one whose answers are another model's is flagged, by its scores and by its
embedding; the served model is asked the queries it was evaluated on, as they were asked (a served
model over HTTP is in tests/serve/test_gateway.py)."""

import numpy as np
import pyarrow.compute as pc
import pytest

from locus.data import load_evaluation_set
from locus.drift import check_drift, drift_of_served_model, probe_positions
from locus.encoders import DEFAULT_ENCODER
from locus.errors import LocusDataError
from locus.routing import ModelPool


@pytest.fixture
def pool_data(trained_store):
    pool = ModelPool.load(trained_store)
    return pool, load_evaluation_set(trained_store, DEFAULT_ENCODER, model_ids=pool.model_ids)


def _check(pool, data, model: str, answers_of: str, probes: int, seed: int):
    m, other = data.model_ids.index(model), data.model_ids.index(answers_of)
    probe = probe_positions(len(data.query_index[m]), probes, seed=seed)
    theirs = dict(zip(data.query_index[other].tolist(), data.scores[other].tolist(), strict=True))
    fresh = np.array([theirs[q] for q in data.query_index[m][probe]], dtype=np.float32)
    return check_drift(pool.checkpoint.model, data.phi, data.query_index[m], data.scores[m],
                       pool.z[pool.position(model)], probe, fresh, model_id=model, seed=seed)


def test_an_unchanged_model_passes_and_one_answering_as_another_is_flagged(pool_data):
    pool, data = pool_data
    model = data.model_ids[0]
    distances = np.linalg.norm(pool.z - pool.z[pool.position(model)], axis=1)
    farthest = pool.model_ids[int(np.argmax(distances))]
    for seed in range(3):  # repeated runs: other probe sets
        same = _check(pool, data, model, model, 64, seed)
        assert not same.flagged and same.changed == 0 and same.ratio < 1, same
        swapped = _check(pool, data, model, farthest, 64, seed)
        print(f"\nseed {seed}: unchanged {same.ratio:.2f} spreads, answers of {farthest} {swapped.ratio:.2f} spreads, "
              f"{swapped.changed:.0%} changed")
        assert swapped.flagged and swapped.changed > 0.2 and swapped.ratio > 1, swapped


def test_a_served_model_is_asked_its_evaluated_queries_as_they_were_asked(trained_store):
    pool = ModelPool.load(trained_store)
    model = pool.model_ids[1]
    stored = trained_store.read_evaluations([model])
    right = dict(zip(stored.column("query_id").to_pylist(), stored.column("score").to_pylist(), strict=True))
    queries = trained_store.read_queries()
    by_prompt = {f"{t}\nAnswer:": (q, a) for q, t, a in zip(
        queries.column("query_id").to_pylist(), queries.column("text").to_pylist(),
        queries.column("answer").to_pylist(), strict=True)}
    asked: list[str] = []

    def the_same_model(prompts: list[str]) -> list[str]:
        """Answers as the stored evaluations say it did: right where it was right."""
        asked.extend(prompts)
        out = []
        for p in prompts:
            query_id, answer = by_prompt[p]
            out.append(f"The answer is ({answer if right[query_id] else 'J' if answer != 'J' else 'A'})")
        return out

    report = drift_of_served_model(trained_store, model, the_same_model, prompt="{text}\nAnswer:", scorer="choice",
                                   stored_scorer="mmlu-pro-pred", probes=16)
    assert len(asked) == 16 and report.changed == 0 and not report.flagged, report

    def a_broken_model(prompts: list[str]) -> list[str]:
        return ["I cannot answer that." for _ in prompts]

    broken = drift_of_served_model(trained_store, model, a_broken_model, prompt="{text}\nAnswer:", scorer="choice",
                                   stored_scorer="mmlu-pro-pred", probes=16)
    assert broken.flagged and broken.changed == pytest.approx(np.mean([right[by_prompt[p][0]] for p in asked]))
    with pytest.raises(LocusDataError, match="no embedding"):
        drift_of_served_model(trained_store, "ghost", a_broken_model, prompt="{text}", scorer="choice")
    with pytest.raises(LocusDataError, match="judge|vLLM"):
        drift_of_served_model(trained_store, model, a_broken_model, prompt="{text}", scorer="loglik")
    assert stored.filter(pc.equal(stored.column("scorer"), "mmlu-pro-pred")).num_rows == stored.num_rows
