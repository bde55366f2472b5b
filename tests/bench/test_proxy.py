"""Proxy routing: a down model's stand-in is never down, and the nearest neighbour keeps more
routing accuracy than a random substitute."""

from __future__ import annotations

import numpy as np
from typer.testing import CliRunner

from locus.bench.proxy import proxy_benchmark
from locus.cli import app
from locus.heldout import load_heldout
from locus.routing import ModelPool


def test_the_proxy_of_an_unavailable_model_is_never_unavailable(trained_store):
    pool = ModelPool.load(trained_store)
    phi = trained_store.read_query_embeddings(pool.checkpoint.encoder)[1][:50]
    rng = np.random.default_rng(0)
    for _ in range(10):
        down = list(rng.choice(pool.model_ids, size=int(rng.integers(1, 28)), replace=False))
        for route in pool.route(phi, unavailable=down):
            assert route.choice not in down
            if route.proxy_for is not None:
                assert route.proxy_for in down
                up = [m for m in pool.model_ids if m not in down]
                distances = {m: np.linalg.norm(pool.z[pool.position(m)] - pool.z[pool.position(route.proxy_for)])
                             for m in up}
                assert route.choice == min(distances, key=distances.get)


def test_nearest_neighbour_keeps_more_than_a_random_substitute(trained_store):
    result = proxy_benchmark(load_heldout(trained_store))
    assert result["models"] and all(r["proxy"] != r["model_id"] for r in result["models"])
    assert sum(r["queries"] for r in result["models"]) <= result["test_queries"]
    assert result["proxy_kept"] > result["random_kept"] > 0


def test_bench_proxy_command(trained_store, tmp_path):
    out = tmp_path / "proxy.json"
    result = CliRunner().invoke(app, ["bench", "proxy", "--root", str(trained_store.uri), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "nearest-neighbour proxy" in result.output and out.exists()
