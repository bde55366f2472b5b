"""`locus explore` on the real slice: well-formed matrices, neighbours, correlations and the JSON."""

from __future__ import annotations

import json

import numpy as np
from typer.testing import CliRunner

from locus.cli import app
from locus.explore import explore
from locus.heldout import load_heldout
from locus.metrics import pair_correlation


def test_explore_measures_geometry_against_held_out_behaviour(trained_store):
    held = load_heldout(trained_store)
    assert held.probs.shape == held.scores.shape == (len(held.model_ids), len(held.split.test))
    result = explore(held, k=2)
    distance, measured = np.array(result["distance"]), np.array(result["measured_disagreement"])
    assert np.allclose(distance, distance.T) and np.allclose(np.diag(distance), 0)
    assert np.nanmax(measured) <= 1 and np.nanmin(measured) >= 0
    for model, near in result["neighbours"].items():
        others = [n["model_id"] for n in near]
        assert len(set(others)) == 2 and model not in others and near[0]["distance"] <= near[1]["distance"]
    for pair in (result["distance_vs_disagreement"], result["predicted_vs_measured"]):
        assert -1 <= pair["pearson"] <= 1 and -1 <= pair["spearman"] <= 1
    # even a briefly trained encoder places behaviourally close models close
    assert result["distance_vs_disagreement"]["spearman"] > 0.3
    assert result["nearest_neighbour_agreement"] > result["mean_pair_agreement"]


def test_pair_correlation_ignores_the_diagonal_and_missing_pairs():
    x = np.array([[0, 1, 2], [1, 0, 3], [2, 3, 0]], dtype=float)
    assert pair_correlation(x, 2 * x + 1)["pearson"] > 0.999
    assert pair_correlation(x, -x)["spearman"] < -0.999
    y = x.copy()
    y[0, 1] = y[1, 0] = np.nan
    assert np.isnan(pair_correlation(x, y)["pearson"])  # two pairs left: too few


def test_explore_command_prints_neighbours_and_writes_json(trained_store, tmp_path):
    out = tmp_path / "explore.json"
    result = CliRunner().invoke(app, ["explore", "--root", str(trained_store.uri), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "nearest neighbours" in result.output and "Spearman" in result.output
    saved = json.loads(out.read_text())
    assert len(saved["distance"]) == len(saved["models"]) == 29
