"""Calibrated routing trusts per-query differences only as far as validation supports them."""

import json

import numpy as np
import pytest

from locus.calibration import GRID, REFERENCE_SIZE, RouteCalibration, ability, fit_calibration
from locus.metrics import routing_accuracy
from locus.routing import ModelPool


def _draw(true: np.ndarray, seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).random(true.shape) < true).astype(np.float32)


def _ids(n: int) -> list[str]:
    return [f"q{i:04d}" for i in range(n)]


def test_real_per_query_differences_are_trusted():
    # model 1 is far better on the first half of the queries, model 0 on average
    n = 2000
    true = np.stack([np.full(n, 0.7), np.r_[np.full(n // 2, 0.95), np.full(n // 2, 0.2)], np.full(n, 0.5)])
    fitted = fit_calibration(true, _draw(true, 0), _ids(n))
    assert fitted.shrinkage >= 0.8
    assert fitted.reference == tuple(_ids(n)[:REFERENCE_SIZE])
    test = _draw(true, 1)
    calibrated = fitted.scores(true, ability(true[:, :REFERENCE_SIZE]))
    assert routing_accuracy(calibrated, test) > routing_accuracy(np.tile(true.mean(1, keepdims=True), n), test) + 0.05


def test_noisy_per_query_differences_are_shrunk_towards_the_best_model():
    # model 0 is best everywhere; the predictor adds large per-query noise to the others' estimates
    n, rng = 2000, np.random.default_rng(2)
    true = np.stack([np.full(n, 0.75), np.full(n, 0.6), np.full(n, 0.55), np.full(n, 0.5)])
    noisy = np.clip(true + np.r_[np.zeros((1, n)), rng.normal(0, 0.25, (3, n))], 0.01, 0.99)
    fitted = fit_calibration(noisy, _draw(true, 3), _ids(n))
    assert fitted.shrinkage < 0.5
    test = _draw(true, 4)
    calibrated = fitted.scores(noisy, ability(noisy[:, :REFERENCE_SIZE]))
    assert routing_accuracy(calibrated, test) > routing_accuracy(noisy, test) + 0.05
    assert routing_accuracy(calibrated, test) >= test[0].mean() - 0.01  # about always the best model


def test_saved_form_round_trips_and_old_versions_route_on_p(trained_store):
    from locus.checkpoint import CheckpointMeta, read_meta

    meta = read_meta(trained_store, trained_store.read_bytes("checkpoints", "LATEST").decode())
    fitted = RouteCalibration(0.3, ("a", "b"))
    saved = json.loads(meta.model_copy(update={"routing": fitted}).to_json())
    assert saved["routing"] == {"shrinkage": 0.3, "reference": ["a", "b"]}
    assert CheckpointMeta.model_validate(saved).routing == fitted
    saved.pop("routing")  # a version saved before calibration existed
    assert CheckpointMeta.model_validate(saved).routing == RouteCalibration(1.0, ())
    probs = np.array([[0.2, 0.9], [0.6, 0.5]])
    order = np.argmax(RouteCalibration().scores(probs, None), axis=0)
    assert order.tolist() == np.argmax(probs, axis=0).tolist()
    assert 0.0 in GRID and 1.0 in GRID


def test_mismatched_shapes_are_refused():
    with pytest.raises(ValueError, match="disagree"):
        fit_calibration(np.zeros((3, 5)), np.zeros((3, 5)), _ids(4))


def test_pool_routes_with_the_versions_calibration(trained_store):
    pool = ModelPool.load(trained_store)
    meta = pool.checkpoint.meta
    assert meta.routing.reference
    # a version calibrated to distrust per-query differences sends every query to one model
    distrusting = RouteCalibration(0.0, meta.routing.reference)
    path = ("checkpoints", pool.version, "checkpoint.json")
    trained_store.write_bytes(meta.model_copy(update={"routing": distrusting}).to_json(), *path)
    shrunk = ModelPool.load(trained_store)
    ids, phi = trained_store.read_query_embeddings(shrunk.checkpoint.encoder)
    choices = {r.choice for r in shrunk.route(phi[:50])}
    assert choices == {shrunk.model_ids[int(np.argmax(shrunk.ability))]}
    # ranked p(correct) is still the predictor's own
    route = shrunk.route(phi[:1], k=29)[0]
    assert {r.model_id: r.p_correct for r in route.ranked} == pytest.approx(
        dict(zip(shrunk.model_ids, shrunk.predict(phi[:1])[0].tolist(), strict=True)), rel=1e-5)
    # a model added later gets its ability too
    shrunk.upsert("copy", shrunk.z[0].copy(), 10)
    assert shrunk.ability[-1] == pytest.approx(shrunk.ability[0], rel=1e-5)
