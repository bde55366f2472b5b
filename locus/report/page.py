"""The report's HTML page: the figures with the numbers that go with them, in plain HTML."""

from __future__ import annotations

from html import escape

STYLE = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}"
         "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;"
         "text-align:right}td:first-child,th:first-child{text-align:left}img{max-width:100%}")


def _table(headers: list[str], rows: list[list]) -> str:
    def cell(v) -> str:
        return f"{v:.3f}" if isinstance(v, float) else escape(str(v))

    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _section(anchor: str, title: str, *parts: str) -> str:
    return f'<section id="{anchor}"><h2>{escape(title)}</h2>{"".join(parts)}</section>'


def render(n: dict) -> str:
    test, geo, proxy = n["test"], n["explore"], n["proxy"]
    d, p = geo["distance_vs_disagreement"], geo["predicted_vs_measured"]
    summary = _table(["metric", "value"], [
        ["models", n["models"]], ["test questions", n["test_queries"]],
        *[[label, test[key]] for label, key in (("routing accuracy", "routing_acc"), ("single best model",
                                                "single_best"), ("oracle", "oracle"), ("hit@3", "hit3"),
                                               ("correctness accuracy", "correctness_acc"), ("ROC AUC", "auc"))
          if key in test],
        ["distance vs disagreement (Pearson)", d["pearson"]], ["distance vs disagreement (Spearman)", d["spearman"]],
        ["predicted vs measured disagreement (Pearson)", p["pearson"]],
        ["agreement with the nearest neighbour", geo["nearest_neighbour_agreement"]],
        ["agreement, all pairs", geo["mean_pair_agreement"]],
        ["routing accuracy kept by the nearest-neighbour proxy", proxy["proxy_kept"]],
        ["... by a random substitute", proxy["random_kept"]]])
    curve = n["accuracy_vs_evaluations"]
    portfolio = n["portfolio"]
    methods = [m for m in portfolio if m not in ("k", "random_mean", "random_std")]
    neighbours = [[m, *(f"{x['model_id']} ({x['distance']:.2f}, {x['agreement']:.2f})" for x in near)]
                  for m, near in geo["neighbours"].items()]
    return "".join([
        f"<!doctype html><html><head><meta charset='utf-8'><title>LOCUS report {escape(n['version'])}</title>"
        f"<style>{STYLE}</style></head><body>",
        f"<h1>LOCUS report</h1><p>version <code>{escape(n['version'])}</code>, query encoder "
        f"<code>{escape(n['encoder'])}</code>. Every number is measured on held-out test questions, with each "
        "model embedded from its training questions only.</p>",
        _section("summary", "Summary", summary),
        _section("map", "Model map", '<img src="map.png" alt="model embeddings by PCA">'),
        _section("distances", "Distances", '<img src="distances.png" alt="distance heatmap">',
                 "<p>Nearest neighbours (distance, measured agreement):</p>",
                 _table(["model", *(f"#{i}" for i in range(1, len(neighbours[0])))], neighbours)),
        _section("evaluations", "Accuracy vs evaluations",
                 '<img src="accuracy_vs_evaluations.png" alt="accuracy vs evaluations">',
                 _table(["evaluations per model", "correctness (mean)", "std", "routing (mean)", "std"],
                        [[s, c, cs, r, rs] for s, c, cs, r, rs in zip(
                            curve["sizes"], curve["correctness_acc"]["mean"], curve["correctness_acc"]["std"],
                            curve["routing_acc"]["mean"], curve["routing_acc"]["std"], strict=True)])),
        _section("portfolio", "Portfolios", '<img src="portfolio.png" alt="portfolio curve">',
                 _table(["k", *methods, "random mean", "random std"],
                        [[k, *(portfolio[m][i] for m in methods), portfolio["random_mean"][i],
                          portfolio["random_std"][i]] for i, k in enumerate(portfolio["k"])])),
        _section("benchmarks", "Routing by benchmark",
                 _table(["benchmark", "test questions", "LOCUS", "single best", "oracle"],
                        [[r["group"], r["queries"], r["locus"], r["single_best"], r["oracle"]]
                         for r in n["by_benchmark"]])),
        _section("proxies", "Proxies when a model is down",
                 _table(["model down", "proxy", "queries", "own", "proxy", "random", "re-route"],
                        [[r["model_id"], r["proxy"], r["queries"], r["own_acc"], r["proxy_acc"], r["random_acc"],
                          r["reroute_acc"]] for r in proxy["models"]])),
        "</body></html>"])
