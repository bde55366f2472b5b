"""The report's HTML page: it answers "should I route, and to which models?" first, then shows the
figures with the numbers behind them. Every table says what its columns mean."""

from __future__ import annotations

from html import escape

STYLE = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;"
         "line-height:1.45}table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ccc;"
         "padding:3px 8px;text-align:right}td:first-child,th:first-child{text-align:left}th{background:#f4f4f4}"
         "img{max-width:100%}p.cols{font-size:.85em;color:#555;margin-top:0}.answer{background:#f3f7ff;"
         "border-left:4px solid #4a74d9;padding:.6em 1em}nav a{margin-right:1em}")

METHODS = {"locus": "LOCUS", "mf": "matrix factorisation", "irt": "IRT (2PL)", "knn": "kNN router",
           "single_best": "single best model", "random": "random model", "oracle": "oracle"}


def _cell(v) -> str:
    if isinstance(v, float):
        return "" if v != v else f"{v:.3f}"
    return escape(str(v))


def _table(headers: list[str], rows: list[list], columns: str = "") -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    note = f'<p class="cols">{columns}</p>' if columns else ""
    return f"<table><tr>{head}</tr>{body}</table>{note}"


def _section(anchor: str, title: str, *parts: str) -> str:
    return f'<section id="{anchor}"><h2>{escape(title)}</h2>{"".join(parts)}</section>'


def headroom_sentence(h: dict, best: str) -> str:
    """What an oracle could add over the best model, and what LOCUS's routing does with it."""
    text = (f"an oracle that always picked a right model would reach {h['oracle']:.1%}, so "
            f"{h['headroom'] * 100:.1f} points are there to win. ")
    if h["routed_away"] == 0:
        return text + (f"LOCUS sends every question to {best}: on no test question does it predict another model "
                       "more likely to be right, so the per-query differences it learned are too small to "
                       "overturn the strongest model.")
    return text + (f"LOCUS sends {h['routed_to_best']:.0%} of the questions to {best}; on the {h['routed_away']} it "
                   f"sends elsewhere its pick is right {h['routed_away_right']} times, where {best} would have been "
                   f"right {h['routed_away_best_right']} times.")


def _answer(n: dict) -> str:
    """The recommendation, in sentences, from the measured test numbers."""
    h, b, names = n["headroom"], n["baselines"], n["display_names"]
    best, locus, single = escape(names.get(h["best_model"], h["best_model"])), b["locus"], b["single_best"]
    gain = locus["routing_acc"] - single["routing_acc"]
    lam = h["shrinkage"]
    if gain > 0.005:
        verdict = (f"<b>Route.</b> LOCUS answers {locus['routing_acc']:.1%} of the test questions correctly "
                   f"against {single['routing_acc']:.1%} for sending everything to {best} "
                   f"(+{gain * 100:.1f} points).")
    else:
        verdict = (f"<b>Routing adds little here: send most queries to {best}.</b> LOCUS answers "
                   f"{locus['routing_acc']:.1%} of the test questions correctly, {best} alone "
                   f"{single['routing_acc']:.1%}.")
    why = f"{best} is already right on {h['best_right']:.1%} of them; " + headroom_sentence(h, best)
    calibration = (f"The calibration chose <code>lam = {lam:.1f}</code> on the validation questions: routing "
                   "ranks models by lam &times; logit p(model, query) + (1 &minus; lam) &times; the model's "
                   "average; 1 trusts every per-query difference the predictor sees, 0 sends every query to the "
                   "model predicted best overall.")
    picks = "".join(f"<li>{r['k']} models ({escape(', '.join(names.get(m, m) for m in r['models']))}) keep "
                    f"{r['share_of_pool']:.0%} of the pool's routing accuracy; one of them is right on "
                    f"{r['share_of_oracle']:.0%} of the questions some model of the pool answers</li>"
                    for r in n["portfolio_picks"])
    return (f'<div class="answer"><p>{verdict} {why}</p><p>{calibration}</p>'
            f"<p>Fewer models, chosen from their embeddings with no new evaluations:</p><ul>{picks}</ul></div>")


def _baselines(n: dict) -> str:
    rows = [[METHODS.get(m, m), r["routing_acc"], r["hit3"], r["correctness_acc"], r["auc"],
             r.get("seconds", float("nan"))] for m, r in n["baselines"].items()]
    return _table(["method", "routing accuracy", "hit@3", "correctness accuracy", "ROC AUC", "fit (s)"], rows,
                  "routing accuracy: share of test questions whose chosen model answered correctly (a question no "
                  "model answers counts as a miss); hit@3: share where one of the top 3 did; correctness accuracy: "
                  "p(correct) thresholded at 0.5 against every observed test answer; ROC AUC: how well p(correct) "
                  "ranks right above wrong answers; fit: seconds to fit the baseline on the training evaluations "
                  "(LOCUS: the registered version, trained beforehand). Every method sees the same training "
                  "evaluations.")


def _onboarding(n: dict) -> str:
    o = n["onboarding"]
    if o is None:
        return "<p>This version was trained on every model in the store, so there is no new model to onboard.</p>"
    names = ", ".join(n["display_names"].get(m, m) for m in o["models"])
    rows = [[r["evaluations"], r["locus_acc"], f"{r['locus_s'] * 1000:.0f} ms", r["mf_acc"], f"{r['mf_s']:.1f} s"]
            for r in o["rows"]]
    return (f"<p>The version never trained on {escape(names)}. Each is embedded from n of its evaluations without "
            "retraining (a forward pass and a short refinement); matrix factorisation has no way to do that and "
            "is retrained on the whole pool with "
            f"those n evaluations added (mean of {o['seeds']} random draws).</p>"
            + _table(["evaluations of each new model", "LOCUS correctness", "LOCUS time", "MF retrained "
                      "correctness", "MF time"], rows,
                     "correctness: test correctness accuracy on the new models only; time: wall time to embed (LOCUS) "
                     "or to refit (MF) on this machine."))


def render(n: dict) -> str:
    geo, proxy, data = n["explore"], n["proxy"], n["data"]
    d, p = geo["distance_vs_disagreement"], geo["predicted_vs_measured"]
    names = n["display_names"]
    curve, portfolio = n["accuracy_vs_evaluations"], n["portfolio"]
    methods = [m for m in portfolio if m not in ("k", "random_mean", "random_std")]
    neighbours = [[names.get(m, m), *(f"{names.get(x['model_id'], x['model_id'])} ({x['distance']:.2f}, "
                                      f"{x['agreement']:.2f})" for x in near)]
                  for m, near in geo["neighbours"].items()]
    explained = n["map_explained_variance"]
    sizes = _table(["what", "count"], [
        ["models in the store", n["models"]], ["models the version trained on", data["trained_on"]],
        ["questions", data["queries"]], ["training questions", data["train_queries"]],
        ["validation questions", data["validation_queries"]], ["test questions", data["test_queries"]],
        ["evaluations", data["evaluations"]], ["training evaluations the version saw", data["train_evaluations"]],
        ["split seed", data["split_seed"]]],
        "Questions are split 80/10/10 by a seeded permutation of the sorted query ids; embeddings are built from "
        "training questions only, validation picks the epoch and the calibration, test is judged here.")
    sections = [
        ("summary", "Should I route, and to which models?", _answer(n), _baselines(n),
         _table(["metric", "value"], [
             ["distance vs disagreement (Pearson)", d["pearson"]],
             ["distance vs disagreement (Spearman)", d["spearman"]],
             ["predicted vs measured disagreement (Pearson)", p["pearson"]],
             ["agreement with the nearest neighbour", geo["nearest_neighbour_agreement"]],
             ["agreement, all pairs", geo["mean_pair_agreement"]],
             ["routing accuracy kept by the nearest-neighbour proxy", proxy["proxy_kept"]],
             ["... by a random substitute", proxy["random_kept"]]],
             "disagreement: share of shared test questions on which exactly one of two models is right; agreement "
             "= 1 - disagreement; kept: the routed model's test accuracy on its questions that a substitute "
             "keeps when it is down (1.0 = all of it).")),
        ("onboarding", "New models without retraining", _onboarding(n)),
        ("portfolio", "Portfolios", '<img src="portfolio.png" alt="portfolio curve">',
         _table(["k", *methods, "random mean", "random std"],
                [[k, *(portfolio[m][i] for m in methods), portfolio["random_mean"][i], portfolio["random_std"][i]]
                 for i, k in enumerate(portfolio["k"])],
                "Test routing accuracy when routing only among k models chosen by each method from the embeddings "
                "and predictions (no new evaluations); random: k models drawn at random (mean and std of 20 "
                "draws).")),
        ("map", "Model map", '<img src="map.png" alt="model embeddings by PCA">',
         f"<p>The two principal components explain {explained[0]:.0%} and {explained[1]:.0%} of the variance of "
         "the embeddings; colours and markers are model families.</p>"),
        ("distances", "Distances", '<img src="distances.png" alt="distance heatmap">',
         _table(["model", *(f"neighbour {i}" for i in range(1, len(neighbours[0])))], neighbours,
                "Each model's nearest neighbours in embedding space: name (embedding distance, measured agreement "
                "on the test questions).")),
        ("evaluations", "Accuracy vs evaluations",
         '<img src="accuracy_vs_evaluations.png" alt="accuracy vs evaluations">',
         _table(["evaluations per model", "correctness (mean)", "std", "routing (mean)", "std"],
                [[s, c, cs, r, rs] for s, c, cs, r, rs in zip(
                    curve["sizes"], curve["correctness_acc"]["mean"], curve["correctness_acc"]["std"],
                    curve["routing_acc"]["mean"], curve["routing_acc"]["std"], strict=True)],
                "Every model embedded from n random training evaluations with the same network (no retraining); "
                "mean and standard deviation over 3 draws; the last row uses all of them. The dashed lines in the "
                "figure are the baselines fitted on all training evaluations.")),
        ("benchmarks", "Routing by benchmark",
         _table(["benchmark", "test questions", "LOCUS", "single best", "oracle"],
                [[r["group"], r["queries"], r["locus"], r["single_best"], r["oracle"]] for r in n["by_benchmark"]],
                "Test routing accuracy per benchmark (MMLU-Pro: per category); single best: the model best on "
                "the training questions overall; oracle: a question counts when any model answers it.")),
        ("proxies", "Proxies when a model is down",
         _table(["model down", "proxy (nearest)", "questions", "own", "proxy", "random", "re-route"],
                [[names.get(r["model_id"], r["model_id"]), names.get(r["proxy"], r["proxy"]), r["queries"],
                  r["own_acc"], r["proxy_acc"], r["random_acc"], r["reroute_acc"]] for r in proxy["models"]],
                "For each model taken down: the test questions routed to it; own: its accuracy on them; proxy: "
                "its nearest neighbour's; random: a random other model's (exact mean); re-route: the next-best "
                "model LOCUS predicts.")),
        ("training", "Training", '<img src="training.png" alt="training curves">', sizes),
    ]
    nav = "".join(f'<a href="#{anchor}">{escape(title)}</a>' for anchor, title, *_ in sections)
    return "".join([
        f"<!doctype html><html><head><meta charset='utf-8'><title>LOCUS report {escape(n['version'])}</title>"
        f"<style>{STYLE}</style></head><body>",
        f"<h1>LOCUS report</h1><p>version <code>{escape(n['version'])}</code>, query encoder "
        f"<code>{escape(n['encoder'])}</code>, {n['models']} models, {n['test_queries']} test questions. Every "
        "number is measured on held-out test questions, with each model embedded from its training questions "
        f"only.</p><nav>{nav}</nav>",
        *(_section(anchor, title, *parts) for anchor, title, *parts in sections),
        "</body></html>"])
