"""`locus report` writes valid PNG figures, every number as JSON, and an HTML page with each section."""

from __future__ import annotations

import json
from html.parser import HTMLParser

from typer.testing import CliRunner

from locus.cli import app

PNG = b"\x89PNG\r\n\x1a\n"
SECTIONS = {"summary", "onboarding", "portfolio", "map", "distances", "evaluations", "benchmarks", "proxies",
            "training"}


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sections: set[str] = set()
        self.images: list[str] = []
        self.tables = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self.sections.add(attrs["id"])
        elif tag == "img":
            self.images.append(attrs["src"])
        elif tag == "table":
            self.tables += 1


def test_report_command_writes_figures_numbers_and_page(trained_store, tmp_path):
    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["report", "--root", str(trained_store.uri), "--out", str(out)])
    assert result.exit_code == 0, result.output
    page = _Page()
    page.feed((out / "index.html").read_text())
    assert page.sections == SECTIONS and page.tables >= 5
    assert len(page.images) == 5
    for image in page.images:
        data = (out / image).read_bytes()
        assert data[:8] == PNG and len(data) > 5_000
    numbers = json.loads((out / "report.json").read_text())
    groups = {r["group"] for r in numbers["by_benchmark"]}
    assert "all" in groups and any(g.startswith("mmlu-pro/") for g in groups)  # MMLU-Pro categories
    portfolio = numbers["portfolio"]
    assert portfolio["k"][-1] == 29 and len(portfolio["coverage"]) == len(portfolio["k"])
    assert numbers["accuracy_vs_evaluations"]["sizes"] == sorted(numbers["accuracy_vs_evaluations"]["sizes"])
    assert set(numbers["baselines"]) == {"locus", "mf", "irt", "knn", "single_best", "random", "oracle"}
    assert numbers["onboarding"] is None  # the version trained on every model
    assert [p["k"] for p in numbers["portfolio_picks"]] == [3, 5]
    assert len(numbers["history"]) >= 1 and 0 < numbers["map_explained_variance"][0] < 1
    assert numbers["data"]["train_queries"] + numbers["data"]["validation_queries"] + numbers["data"][
        "test_queries"] == numbers["data"]["queries"]
    text = (out / "index.html").read_text()
    assert "lam = " in text and "Should I route" in text


def test_onboarding_portfolio_and_headroom_on_held_out_questions(trained_store):
    """A model the version never trained on (another model's evaluations under a new name) is
    onboarded from n evaluations and compared with matrix factorisation retrained with it."""
    import pyarrow as pa

    from locus.heldout import load_heldout
    from locus.report import analyses

    source = trained_store.model_ids()[0]
    rows = trained_store.read_evaluations([source])
    trained_store.write_evaluations(rows.set_column(rows.schema.get_field_index("model_id"), "model_id",
                                                    pa.array(["newcomer"] * rows.num_rows)))
    held = load_heldout(trained_store)
    onboarding = analyses.onboarding_without_retraining(held, sizes=(16, 64), seeds=(0,))
    assert onboarding["models"] == ["newcomer"] and [r["evaluations"] for r in onboarding["rows"]] == [16, 64]
    for row in onboarding["rows"]:
        assert 0 < row["locus_acc"] < 1 and 0 < row["mf_acc"] < 1 and row["locus_s"] > 0 and row["mf_s"] > 0
    (pick,) = analyses.portfolio_picks(held, ks=(3,))
    assert len(set(pick["models"])) == 3 and pick["share_of_pool"] > 0
    headroom = analyses.routing_headroom(held)
    assert 0 <= headroom["best_right"] <= headroom["oracle"] <= 1
    assert abs(headroom["headroom"] - (headroom["oracle"] - headroom["best_right"])) < 1e-9
    assert headroom["routed_away_right"] <= headroom["routed_away"]


def test_report_without_a_trained_version_says_so(encoded_store, tmp_path):
    result = CliRunner().invoke(app, ["report", "--root", str(encoded_store.uri), "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "checkpoint" in result.output
