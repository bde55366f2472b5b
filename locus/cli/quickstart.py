"""`locus quickstart`: the whole platform on one local Ray cluster and the bundled real sample.
Import, encode (Ray Data), train (Ray Train), embed (Ray Data), compare with the baselines,
write the report, then serve (Ray Serve) and route example questions over HTTP. It sits on top of
the core and both Ray layers (locus.jobs, locus.serve), as the other commands do."""

from __future__ import annotations

import json
import os
import secrets
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console
from rich.table import Table

from locus.cli.common import Flags, config_flags, console, reports_errors
from locus.encoders import DEFAULT_ENCODER
from locus.store import StorageRoot, Store, resolve_root

EXAMPLES = 5  # test questions routed over HTTP at the end


class QuickstartConfig(BaseModel):
    """What `locus quickstart` runs; the CLI's flags are these fields."""

    model_config = ConfigDict(extra="forbid")

    root: StorageRoot = Field("./locus-quickstart", description="storage root the quickstart fills")
    workers: int = Field(2, ge=1, description="Ray Train workers")
    max_epochs: int = Field(8, ge=1, description="upper bound on training epochs")
    epoch_episodes: int = Field(1024, ge=1, description="model-episodes per training epoch")
    queries: int | None = Field(None, ge=50, description="use only the first N sample questions (unset: all 3,000)")
    report_dir: str | None = Field(None, description="where the report goes (default: <root>/report)")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535, description="HTTP port of the Serve app")
    onboard: int = Field(3, ge=0, description="sample models held out of training and onboarded afterwards")
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


def _holdout(model_ids: list[str], k: int, seed: int = 0) -> list[str]:
    """The models training leaves out, to be onboarded afterwards with no retraining (seeded)."""
    import numpy as np

    pick = np.random.default_rng(seed).choice(len(model_ids), size=min(k, len(model_ids) - 2), replace=False)
    return sorted(model_ids[i] for i in pick)


def run_quickstart(config: QuickstartConfig, console: Console) -> dict:
    """Run every stage; returns the version, the report's numbers and the routed examples."""
    from locus.cli import story
    from locus.encoders import queries_to_encode
    from locus.importers import import_tables
    from locus.jobs.embed import run_embedding
    from locus.jobs.encode import run_encoding
    from locus.jobs.ray_session import ray_log_file, ray_session
    from locus.jobs.train import run_training
    from locus.jobs.train_config import ScalingSpec, TrainJobConfig
    from locus.progress import epoch_line, progress_bar
    from locus.report import build_report
    from locus.sample import sample_models, sample_tables
    from locus.training import TrainConfig

    store = Store(config.root)
    log = None if config.verbose else ray_log_file(config.root, "quickstart")
    stages = Stages(console, 6)
    summary: dict = {}
    with stages.stage("import the bundled MMLU-Pro sample (29 LLMs)"):
        report = import_tables(store, *sample_tables(config.queries), sample_models())
        console.print(f"{report.queries:,} questions, {report.evaluations:,} evaluations of {report.models} models "
                      f"in {store.uri}")
    held_back = _holdout(store.model_ids(), config.onboard)
    try:
        with ray_session(config.address, num_cpus=max(4, os.cpu_count() or 1), log_file=log):
            with stages.stage(f"encode the questions with {DEFAULT_ENCODER} (Ray Data)"):
                pending = queries_to_encode(store, DEFAULT_ENCODER)
                with progress_bar(console, "encoding", pending.num_rows, unit="questions") as advance:
                    encoded = run_encoding(store.uri, DEFAULT_ENCODER, actors=2, chunk_size=256, pending=pending,
                                           progress=advance)
                console.print(f"encoded {encoded.encoded:,} new of {encoded.total:,} questions")
                if encoded.describe():
                    console.print(f"of those: {encoded.describe()}", highlight=False)
            with stages.stage(f"train LOCUS with Ray Train ({config.workers} workers)"):
                console.print(f"held out of training, to be onboarded afterwards: {', '.join(held_back)}")
                job = TrainJobConfig(root=store.uri, exclude=held_back, scaling=ScalingSpec(workers=config.workers),
                                     train=TrainConfig(max_epochs=config.max_epochs,
                                                       epoch_episodes=config.epoch_episodes))
                with progress_bar(console, "training", config.max_epochs, unit="epochs") as advance:
                    def on_epoch(m: dict[str, float]) -> None:
                        console.print(epoch_line(m), highlight=False)
                        advance(1)

                    trained = run_training(job, on_epoch=on_epoch)
                summary["version"] = trained.version
                console.print(f"registered version [bold]{trained.version}[/] (best epoch "
                              f"{trained.meta.metrics.best_epoch} of {len(trained.meta.metrics.history)})")
            with stages.stage("embed every model, the held-out ones too, with no retraining (Ray Data)"):
                with progress_bar(console, "embedding", report.models, unit="models") as advance:
                    embedded = run_embedding(store.uri, trained.version, progress=advance)
                console.print(f"embedded {len(embedded.model_ids)} models")
            with stages.stage("what LOCUS does on the test questions, against the baselines"):
                built = build_report(store, Path(config.report_dir or Path(store.uri) / "report"),
                                     version=trained.version, log=lambda m: console.print(f"[dim]{m}[/]"))
                summary["report"] = built.numbers
                story.print_story(console, built.numbers)
                console.print(f"report: [bold]{built.page.resolve().as_uri()}[/]")
            with stages.stage("serve (Ray Serve) and route example questions over HTTP"):
                summary["routes"] = _serve_and_route(config, store, built.held, built.numbers["display_names"],
                                                     console)
    finally:
        if log is not None and log.exists():
            console.print(f"[dim]Ray's own logs: {log}[/]", highlight=False)
    return summary


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


def _serve_and_route(config: QuickstartConfig, store: Store, held, names: dict[str, str],
                     console: Console) -> list[dict]:
    from locus.cli.serving import serve_until_interrupted
    from locus.serve.run import serving
    from locus.serve.settings import ServeSettings

    examples = _examples(store, held)
    made = None if "LOCUS_WRITE_TOKEN" in os.environ else secrets.token_urlsafe(18)
    token = made or os.environ["LOCUS_WRITE_TOKEN"]
    with serving(ServeSettings(root=store.uri, write_token=token), host=config.host, port=config.port) as url:
        console.print(f"serving at [bold]{url}[/] (API docs {url}/docs)")
        answer = _post(f"{url}/v1/route", {"queries": [e["text"] for e in examples], "k": 3})
        down = answer["results"][0]["choice"]
        proxied = _post(f"{url}/v1/route", {"query": examples[0]["text"], "unavailable": [down]})["results"][0]
        table = Table(title="POST /v1/route: test questions the models disagree on most", title_justify="left",
                      width=min(console.width, 100))
        table.add_column("question", ratio=3, overflow="fold")
        table.add_column("routed to", ratio=2, overflow="fold")
        table.add_column("p", justify="right", no_wrap=True)
        table.add_column("answer", no_wrap=True)
        routes = []
        for example, result in zip(examples, answer["results"], strict=True):
            outcome = example["outcomes"].get(result["choice"])
            verdict = "unknown" if outcome is None or outcome != outcome else ("right" if outcome >= 0.5 else "wrong")
            question = " ".join(example["text"].split())
            table.add_row(question if len(question) <= 70 else question[:69] + "…", names.get(result["choice"],
                          result["choice"]), f"{result['p_correct']:.2f}", verdict)
            routes.append({"query_id": example["query_id"], "choice": result["choice"], "verdict": verdict})
        console.print(table)
        console.print("answer: whether the routed model's published answer to the question was right", style="dim")
        console.print(f"with {names.get(down, down)} marked unavailable, the first question goes to "
                      f"{names.get(proxied['choice'], proxied['choice'])} (its nearest neighbour, standing in for "
                      f"{proxied['proxy_for']})")
        if config.keep_serving:
            serve_until_interrupted(url, write_token=made)
    return routes


# the defaults and help are QuickstartConfig's, defined once there: a flag left out keeps the default
@reports_errors
@config_flags(Flags(QuickstartConfig, fields=("workers", "max_epochs", "epoch_episodes", "queries", "report_dir",
                                              "port", "onboard", "keep_serving", "address")))
def quickstart(root: Annotated[str, typer.Option(callback=resolve_root, show_default=True,
                                                 help=QuickstartConfig.model_fields["root"].description)]
               = QuickstartConfig.model_fields["root"].default,
               verbose: Annotated[bool, typer.Option("--verbose", "-v", help=QuickstartConfig.model_fields[
                   "verbose"].description)] = False, *, settings: dict) -> None:
    """Import the bundled real sample, encode it (Ray Data), train (Ray Train), embed, compare with the
    baselines, write the report, then serve and route example questions over HTTP."""
    run_quickstart(QuickstartConfig(root=root, verbose=verbose, **settings), console)
