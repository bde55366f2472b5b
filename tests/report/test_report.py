"""`locus report` writes valid PNG figures, every number as JSON, and an HTML page with each section."""

from __future__ import annotations

import json
from html.parser import HTMLParser

from typer.testing import CliRunner

from locus.cli import app

PNG = b"\x89PNG\r\n\x1a\n"
SECTIONS = {"summary", "map", "distances", "evaluations", "portfolio", "benchmarks", "proxies"}


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
    assert len(page.images) == 4
    for image in page.images:
        data = (out / image).read_bytes()
        assert data[:8] == PNG and len(data) > 5_000
    numbers = json.loads((out / "report.json").read_text())
    groups = {r["group"] for r in numbers["by_benchmark"]}
    assert "all" in groups and any(g.startswith("mmlu-pro/") for g in groups)  # MMLU-Pro categories
    portfolio = numbers["portfolio"]
    assert portfolio["k"][-1] == 29 and len(portfolio["coverage"]) == len(portfolio["k"])
    assert numbers["accuracy_vs_evaluations"]["sizes"] == sorted(numbers["accuracy_vs_evaluations"]["sizes"])


def test_report_without_a_trained_version_says_so(encoded_store, tmp_path):
    result = CliRunner().invoke(app, ["report", "--root", str(encoded_store.uri), "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "checkpoint" in result.output
