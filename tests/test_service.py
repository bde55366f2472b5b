"""PoolService, the Ray-free core behind the Serve deployments: routing, pages, comparisons and
registrations on a real store, no cluster."""

import numpy as np
import pytest

from locus.api import CompareRequest, EmbeddingRequest, PortfolioRequest, RouteRequest
from locus.encoders import DEFAULT_ENCODER, encode_texts
from locus.errors import ConflictError, NotFoundError, UnknownModelError
from locus.registration import adhoc_query_id
from locus.service import PoolService


@pytest.fixture
def service(trained_store):
    return PoolService(trained_store, refresh_seconds=0)


def test_route_compare_portfolio_and_pages(service, trained_store):
    ids, phi = trained_store.read_query_embeddings(DEFAULT_ENCODER)
    models = service.pool.model_ids
    routed = service.route(RouteRequest(queries=["a", "b"], k=3), phi[:2])
    assert len(routed.results) == 2 and all(len(r.ranked) == 3 for r in routed.results)
    best = routed.results[0].choice
    proxied = service.route(RouteRequest(query="a", unavailable=[best]), phi[:1]).results[0]
    assert proxied.proxy_for == best and proxied.choice != best
    compared = service.compare(CompareRequest(models=models[:3]))
    assert np.allclose(np.diag(compared.distance), 0) and len(compared.predicted_disagreement) == 3
    assert len({m.model_id for m in service.portfolio(PortfolioRequest(k=3, method="k-center")).models}) == 3
    assert service.info().models == len(models) == len(service.models())
    assert [n.model_id for n in service.neighbours(models[0], 2).neighbors][0] != models[0]
    with pytest.raises(UnknownModelError):
        service.model("ghost")


def test_registration_stores_texts_as_queries_and_is_seen_by_another_service(service, trained_store):
    ids, _ = trained_store.read_query_embeddings(DEFAULT_ENCODER)
    text = "A question no store has seen about tidal locking?"
    request = EmbeddingRequest(model_id="newcomer", evaluations=[
        *({"query_id": q, "score": float(i % 2)} for i, q in enumerate(ids[:40])), {"query": text, "score": 1.0}])
    other = PoolService(trained_store, refresh_seconds=0)
    patient = PoolService(trained_store, refresh_seconds=3600)  # would not look again for an hour
    done = service.embed(request, encode_texts([text]))
    assert done.registered and done.n_evaluations == 41
    assert adhoc_query_id(text) in trained_store.encoded_query_ids(DEFAULT_ENCODER).to_pylist()
    assert "newcomer" in service.pool.model_ids
    assert other.model("newcomer").n_evaluations == 41  # refreshed from the registry, no restart
    # a model named right after its registration elsewhere is looked up at once (read your writes)
    assert patient.compare(CompareRequest(models=["newcomer", service.pool.model_ids[0]])).models[0] == "newcomer"


def test_embedding_without_model_id_writes_nothing_and_bad_ids_are_refused(service, trained_store):
    ids, _ = trained_store.read_query_embeddings(DEFAULT_ENCODER)
    before = trained_store.table_versions()
    z = service.embed(EmbeddingRequest(evaluations=[{"query_id": q, "score": 1.0} for q in ids[:10]]))
    assert not z.registered and len(z.embedding) == service.pool.z.shape[1]
    with pytest.raises(NotFoundError, match="evaluations\\[1\\].query_id='nope'"):
        service.embed(EmbeddingRequest(model_id="m", evaluations=[{"query_id": ids[0], "score": 1.0},
                                                                  {"query_id": "nope", "score": 0.0}]))
    assert trained_store.table_versions() == before


def test_a_model_registered_from_few_evaluations_does_not_take_over_routing(service, trained_store):
    """The measured takeover: 41 evaluations, 40 of them right, and the model was chosen for every
    query. Held back below the minimum; weighed by its evidence when a request lowers it."""
    ids, phi = trained_store.read_query_embeddings(DEFAULT_ENCODER)
    service.embed(EmbeddingRequest(model_id="lucky", evaluations=[
        {"query_id": q, "score": float(i > 0)} for i, q in enumerate(ids[:41])]))
    queries = phi[-100:]
    texts = [f"q{i}" for i in range(len(queries))]
    routed = service.route(RouteRequest(queries=texts), queries)
    assert routed.min_evaluations == service.min_evaluations > 41
    assert [(h.model_id, h.n_evaluations) for h in routed.held_back] == [("lucky", 41)]
    assert all(r.choice != "lucky" and "lucky" not in {m.model_id for m in r.ranked} for r in routed.results)

    unweighted = PoolService(trained_store, refresh_seconds=0, min_evaluations=0, prior_strength=0)
    weighed = service.route(RouteRequest(queries=texts, min_evaluations=0, k=100), queries)
    assert weighed.held_back == []
    lucky = [next(m for m in r.ranked if m.model_id == "lucky") for r in weighed.results]
    assert all(m.n_evaluations == 41 and np.isclose(m.evidence, 41 / (41 + service.prior_strength)) for m in lucky)
    chosen = sum(r.choice == "lucky" for r in weighed.results)
    chosen_unweighted = sum(r.choice == "lucky" for r in unweighted.route(RouteRequest(queries=texts), queries).results)
    assert chosen < chosen_unweighted, (chosen, chosen_unweighted)

    only = service.route(RouteRequest(query="a", candidates=["lucky"], min_evaluations=0), queries[:1])
    assert only.results[0].choice == "lucky"
    with pytest.raises(ConflictError, match="min_evaluations=100"):
        service.route(RouteRequest(query="a", candidates=["lucky"]), queries[:1])


def test_equal_evidence_keeps_the_ranking(service, trained_store):
    """Every trained model weighed by the same evidence ranks as without the weighing."""
    _, phi = trained_store.read_query_embeddings(DEFAULT_ENCODER)
    pool = service.pool
    pool.n_evaluations[:] = 500
    plain = pool.route(phi[:50], k=len(pool.model_ids))
    weighed = pool.route(phi[:50], k=len(pool.model_ids), prior_strength=64, min_evaluations=100)
    assert [[m.model_id for m in r.ranked] for r in plain] == [[m.model_id for m in r.ranked] for r in weighed]


def test_min_p_picks_the_cheapest_model_that_reaches_it(service, trained_store):
    _, phi = trained_store.read_query_embeddings(DEFAULT_ENCODER)
    pool = service.pool
    ids = pool.model_ids
    for i, m in enumerate(ids):  # the later a model in the list, the cheaper
        pool.models[m] = {"model_id": m, "cost_per_1k_tokens": float(len(ids) - i)}
    (route,) = pool.route(phi[:1], k=len(ids))
    calibrated = {r.model_id: r.p_calibrated for r in route.ranked}
    for min_p in (0.0, float(np.median(list(calibrated.values()))), max(calibrated.values())):
        (chosen,) = pool.route(phi[:1], min_p=min_p)
        reaching = [m for m in ids if calibrated[m] >= min_p]
        assert chosen.choice == max(reaching, key=ids.index)  # the cheapest of those reaching min_p
    (unreachable,) = pool.route(phi[:1], min_p=1.0)
    assert unreachable.choice == route.choice  # none reaches it: the best-ranked


def test_fallbacks_start_with_the_nearest_neighbour_then_follow_the_ranking(service, trained_store):
    _, phi = trained_store.read_query_embeddings(DEFAULT_ENCODER)
    pool = service.pool
    (route,) = pool.route(phi[:1], k=len(pool.model_ids))
    assert route.choice not in route.fallbacks and set(route.fallbacks) == set(pool.model_ids) - {route.choice}
    assert route.fallbacks[0] == pool.neighbours(route.choice, 1)[0][0]
    ranking = [r.model_id for r in route.ranked if r.model_id not in (route.choice, route.fallbacks[0])]
    assert route.fallbacks[1:] == ranking
    down = route.fallbacks[0]
    (without,) = pool.route(phi[:1], unavailable=[down])
    assert down not in without.fallbacks
