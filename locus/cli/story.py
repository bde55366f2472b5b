"""The quickstart's console summary of a report: the quality table, then in numbers what LOCUS does
that the baselines cannot do the same way (onboard without retraining, stand in for a model that
is down, keep most of the pool's accuracy with a few models), and why routing does or does not
beat the single best model on these data. Fits 80 columns."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from locus.report.page import METHODS, headroom_sentence


def _quality(numbers: dict) -> Table:
    table = Table(title=f"{numbers['test_queries']:,} held-out test questions; every method fitted on the same "
                        "training evaluations", title_justify="left")
    table.add_column("method", no_wrap=True)
    for column in ("routing", "hit@3", "correct", "AUC", "fit s"):
        table.add_column(column, justify="right", no_wrap=True)
    for method, r in numbers["baselines"].items():
        seconds = f"{r['seconds']:.0f}" if "seconds" in r else ""
        table.add_row(METHODS.get(method, method), f"{r['routing_acc']:.3f}", f"{r['hit3']:.3f}",
                      f"{r['correctness_acc']:.3f}", f"{r['auc']:.3f}", seconds)
    return table


def _onboarding(numbers: dict) -> Table | None:
    onboarding = numbers["onboarding"]
    if onboarding is None:
        return None
    names = ", ".join(numbers["display_names"].get(m, m) for m in onboarding["models"])
    table = Table(title=f"new models, never trained on ({names}): test correctness", title_justify="left")
    table.add_column("evaluations each", justify="right")
    table.add_column("LOCUS: embed", justify="right")
    table.add_column("time", justify="right")
    table.add_column("MF: retrain", justify="right")
    table.add_column("time", justify="right")
    for r in onboarding["rows"]:
        table.add_row(str(r["evaluations"]), f"{r['locus_acc']:.3f}", f"{r['locus_s'] * 1000:.0f} ms",
                      f"{r['mf_acc']:.3f}", f"{r['mf_s']:.1f} s")
    return table


def print_story(console: Console, numbers: dict) -> None:
    names = numbers["display_names"]
    console.print(_quality(numbers))
    console.print("routing: share of questions whose chosen model was right; correct: p(correct) at 0.5 against "
                  "every observed answer; hit@3: one of the top 3 was right", style="dim")
    h, b = numbers["headroom"], numbers["baselines"]
    best = names.get(h["best_model"], h["best_model"])
    gain = b["locus"]["routing_acc"] - b["single_best"]["routing_acc"]
    console.print(
        f"\n[bold]Why routing {'beats' if gain > 0.005 else 'about equals'} the single best model here:[/] "
        f"{best} is right on {h['best_right']:.1%} of the test questions; {headroom_sentence(h, best)} The "
        f"calibration chose lam {h['shrinkage']:.1f} (0 sends everything to the best model, 1 trusts every "
        "per-query difference the predictor sees).")
    table = _onboarding(numbers)
    if table is not None:
        console.print()
        console.print(table)
        console.print("LOCUS embeds a new model without retraining; matrix factorisation must be refitted on the "
                      "whole pool with the new evaluations added", style="dim")
    proxy = numbers["proxy"]
    top = next((r for r in proxy["models"] if r["model_id"] == h["best_model"]), None)
    console.print(f"\n[bold]A model is down:[/] its nearest neighbour in embedding space keeps "
                  f"{proxy['proxy_kept']:.0%} of the routing accuracy on the questions routed to it, a random "
                  f"substitute {proxy['random_kept']:.0%}." + (
                      f" With {best} down, {names.get(top['proxy'], top['proxy'])} stands in: {top['proxy_acc']:.1%} "
                      f"right on its {top['queries']} questions against {top['own_acc']:.1%} (random "
                      f"{top['random_acc']:.1%})." if top else ""))
    for pick in numbers["portfolio_picks"]:
        console.print(f"[bold]A portfolio of {pick['k']}[/] ({', '.join(names.get(m, m) for m in pick['models'])}), "
                      f"picked with no new evaluations, keeps {pick['share_of_pool']:.0%} of the pool's routing "
                      f"accuracy; one of them is right on {pick['share_of_oracle']:.0%} of the questions some model "
                      "answers.")
