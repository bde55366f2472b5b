"""The quickstart: the whole platform on one local Ray cluster and the bundled real sample.
Import, encode (Ray Data), train (Ray Train), embed (Ray Data), compare with the baselines,
write the report, then serve (Ray Serve) and route example questions over HTTP."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console
from rich.table import Table

from locus.encoders import DEFAULT_ENCODER
from locus.store import StorageRoot, Store

EXAMPLES = 5  # test questions routed over HTTP at the end


class QuickstartConfig(BaseModel):
    """What `locus quickstart` runs; the CLI's flags are these fields."""

    model_config = ConfigDict(extra="forbid")

    root: StorageRoot = Field("./locus-quickstart", description="storage root the quickstart fills")
    workers: int = Field(2, ge=1, description="Ray Train workers")
    max_epochs: int = Field(8, ge=1, description="upper bound on training epochs")
    steps_per_epoch: int = Field(100, ge=1, description="optimiser steps per epoch")
    queries: int | None = Field(None, ge=50, description="use only the first N sample questions (unset: all 3,000)")
    report_dir: str | None = Field(None, description="where the report goes (default: <root>/report)")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535, description="HTTP port of the Serve app")
    keep_serving: bool = Field(False, description="keep the Serve app up until Ctrl-C (a write token for "
                                                  "registrations is made when LOCUS_WRITE_TOKEN is unset)")
    verbose: bool = Field(False, description="show Ray's own logs here instead of in <root>/logs/ray.log")
    address: str | None = Field(None, description="Ray cluster to join (unset: start a local one)")


class Stages:
    """Numbered stage headers with the time each stage took."""

    def __init__(self, console: Console, total: int) -> None:
        self.console, self.total, self.done = console, total, 0
        self.start = time.perf_counter()

    @contextmanager
    def stage(self, title: str) -> Iterator[None]:
        self.done += 1
        self.console.rule(f"[bold]{self.done}/{self.total} {title}")
        began = time.perf_counter()
        yield
        self.console.print(f"[dim]{title}: {time.perf_counter() - began:.0f} s "
                           f"(total {time.perf_counter() - self.start:.0f} s)[/]")


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def run_quickstart(config: QuickstartConfig, console: Console) -> dict:
    """Run every stage; returns the version, the quality table and the routed examples."""
    from jobs.embed import run_embedding
    from jobs.encode import run_encoding
    from jobs.ray_session import ray_session
    from jobs.train import ScalingSpec, TrainJobConfig, run_training
    from locus.bench.quality import against_baselines
    from locus.heldout import load_heldout
    from locus.importers import import_tables
    from locus.report import build_report
    from locus.sample import sample_models, sample_tables
    from locus.training import TrainConfig

    store = Store(config.root)
    stages = Stages(console, 7)
    summary: dict = {}
    with stages.stage("import the bundled MMLU-Pro sample (29 LLMs)"):
        report = import_tables(store, *sample_tables(config.queries), sample_models())
        console.print(f"{report.queries} questions, {report.evaluations} evaluations of {report.models} models "
                      f"in {store.uri}")
    with ray_session(config.address, num_cpus=max(4, os.cpu_count() or 1)):
        with stages.stage(f"encode the questions with {DEFAULT_ENCODER} (Ray Data)"):
            done, total = run_encoding(config.root, DEFAULT_ENCODER, actors=2, chunk_size=512, log=console.print)
            console.print(f"encoded {done} new of {total} questions")
        with stages.stage(f"train LOCUS with Ray Train ({config.workers} workers)"):
            job = TrainJobConfig(root=config.root, train=TrainConfig(max_epochs=config.max_epochs,
                                                                     steps_per_epoch=config.steps_per_epoch),
                                 scaling=ScalingSpec(workers=config.workers))
            trained = run_training(job)
            summary["version"] = trained.version
            console.print(f"registered version [bold]{trained.version}[/] (best epoch "
                          f"{trained.metrics['best_epoch']} of {len(trained.metrics['history'])})")
        with stages.stage("embed every model (Ray Data)"):
            embedded = run_embedding(config.root, trained.version)
            console.print(f"embedded {len(embedded.model_ids)} models")
        with stages.stage("test quality against the baselines"):
            held = load_heldout(store, trained.version)
            summary["quality"] = against_baselines(held)
            console.print(_quality_table(summary["quality"], held.scores.shape[1]))
        with stages.stage("report"):
            page = build_report(store, Path(config.report_dir or Path(config.root) / "report"),
                                version=trained.version, log=lambda m: console.print(f"[dim]{m}[/]"))
            summary["report"] = str(page)
            console.print(f"report: [bold]{page.resolve().as_uri()}[/]")
        with stages.stage("serve (Ray Serve) and route example questions over HTTP"):
            summary["routes"] = _serve_and_route(config, store, held, console)
    return summary


def _quality_table(results: dict, test_queries: int) -> Table:
    table = Table(title=f"held-out test questions ({test_queries}); every method fitted on the same evaluations")
    for column in ("method", "routing acc", "hit@3", "correctness acc", "ROC AUC"):
        table.add_column(column, justify="right")
    for method, r in results.items():
        table.add_row(method, f"{r['routing_acc']:.3f}", f"{r['hit3']:.3f}", f"{r['correctness_acc']:.3f}",
                      f"{r['auc']:.3f}")
    return table


def _examples(store: Store, held) -> list[dict]:
    """Test questions on which the models disagree most: where routing matters."""
    import numpy as np

    mean = np.nanmean(held.scores, axis=0)
    picks = np.argsort(-mean * (1 - mean), kind="stable")[:EXAMPLES]
    texts = dict(zip(*store.read_queries().select(["query_id", "text"]).to_pydict().values(), strict=True))
    out = []
    for p in picks:
        query_id = held.data.query_ids[held.split.test[p]]
        outcomes = {m: held.scores[i, p] for i, m in enumerate(held.model_ids)}
        out.append({"query_id": query_id, "text": texts[query_id], "outcomes": outcomes})
    return out


def _serve_and_route(config: QuickstartConfig, store: Store, held, console: Console) -> list[dict]:
    from serve.run import serving
    from serve.settings import ServeSettings

    examples = _examples(store, held)
    with serving(ServeSettings(root=config.root), host=config.host, port=config.port) as url:
        console.print(f"serving at [bold]{url}[/] (API docs {url}/docs)")
        answer = _post(f"{url}/v1/route", {"queries": [e["text"] for e in examples], "k": 3})
        down = answer["results"][0]["choice"]
        proxied = _post(f"{url}/v1/route", {"query": examples[0]["text"], "unavailable": [down]})["results"][0]
        table = Table(title="POST /v1/route: test questions where the 29 models disagree most")
        table.add_column("question", no_wrap=True, overflow="ellipsis", ratio=1)
        for column in ("routed to", "p(correct)", "its published answer"):
            table.add_column(column, no_wrap=True)
        routes = []
        for example, result in zip(examples, answer["results"], strict=True):
            outcome = example["outcomes"].get(result["choice"])
            verdict = "unknown" if outcome is None or outcome != outcome else ("correct" if outcome >= 0.5
                                                                              else "wrong")
            question = " ".join(example["text"].split())[:90]
            table.add_row(question, result["choice"], f"{result['p_correct']:.2f}", verdict)
            routes.append({"query_id": example["query_id"], "choice": result["choice"], "verdict": verdict})
        console.print(table)
        console.print(f"with {down} marked unavailable, the first question goes to {proxied['choice']} "
                      f"(its nearest neighbour, standing in for {proxied['proxy_for']})")
        if config.keep_serving:
            _wait(url, console)
    return routes


def _wait(url: str, console: Console) -> None:
    # Ray (Train's run, its deferred-signal guards) may leave its own SIGINT handler behind, which
    # swallowed Ctrl-C here now and then: whatever is installed, Ctrl-C ends this wait
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    console.print(f"\nLOCUS keeps serving at [bold]{url}[/]; try:", highlight=False)
    console.print(f"  curl -s {url}/v1/route -H 'content-type: application/json' "
                  "-d '{\"query\": \"What is the derivative of x^2?\", \"k\": 3}'", markup=False)
    console.print(f"  curl -s {url}/v1/models/gemini-1.5-pro-002/neighbors?k=3", markup=False)
    console.print(f"  curl -s {url}/v1/portfolio -H 'content-type: application/json' -d '{{\"k\": 3}}'",
                  markup=False)
    console.print("Ctrl-C stops the server and the local Ray cluster.")
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        console.print("stopping")
    finally:
        signal.signal(signal.SIGINT, previous)
