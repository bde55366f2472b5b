"""One-call onboarding: a new model is evaluated on the queries the onboarding strategy picks (the
evaluation job: vLLM on the cluster, scored by each benchmark's scorer), embedded from its
evaluations and registered, so that the pool (and a gateway following the registry) has it.

Registering is the last commit, the model's embedding: a run killed before it leaves the model
unregistered, with the evaluations made so far stored, and running it again evaluates only what
the budget still lacks, then registers it."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
from locus.jobs.evaluate import Log, run_evaluation

from locus.embedding import embed_store
from locus.errors import LocusDataError
from locus.eval_config import EvalConfig, ModelSpec
from locus.onboarding import plan
from locus.store import Store


@dataclass
class Onboarded:
    model_id: str
    version: str
    evaluated_before: int  # its evaluations already stored (by the config's scorers)
    evaluated_now: int
    n_evaluations: int  # what its embedding rests on


def _stored(store: Store, model_id: str, scorers: set[str]) -> int:
    rows = store.read_evaluations([model_id], missing_ok=True)
    return rows.filter(pc.is_in(rows.column("scorer"), value_set=pa.array(sorted(scorers)))).num_rows


def onboard_model(config: EvalConfig, model: ModelSpec, *, budget: int, strategy: str = "stratified",
                  version: str = "latest", seed: int = 0, served_at: str | None = None,
                  served_name: str | None = None, address: str | None = None, log: Log = print) -> Onboarded:
    """Evaluate `model` on up to `budget` queries chosen by `strategy` (those already evaluated
    count), embed it with `version` and register it (its models row, with where it is served:
    `served_at` under `served_name`, then its embedding). Every check runs before the first engine
    starts."""
    if budget < 1:
        raise LocusDataError(f"--budget: {budget} must be at least 1")
    store = Store(config.root)
    scorers = {b.scorer.name for b in config.benchmarks}
    before = _stored(store, model.id, scorers)
    todo = budget - before
    if todo > 0:
        planned = plan(store, model.id, todo, strategy=strategy, version=version, seed=seed,
                       benchmarks=[b.name for b in config.benchmarks])
        log(f"{model.id}: {before} evaluations stored; evaluating {planned.num_rows} more, picked by {strategy}")
        run_evaluation(config.model_copy(update={"models": [model]}), address=address, log=log,
                       query_ids=planned.column("query_id").to_pylist())
    else:
        log(f"{model.id}: {before} evaluations stored, the budget of {budget} is reached")
    now = _stored(store, model.id, scorers)
    rows = {r["model_id"]: r for r in store.read_models().to_pylist()}
    row = rows.get(model.id, {"model_id": model.id, "available": True})
    serving = {k: v for k, v in (("served_at", served_at), ("served_name", served_name)) if v is not None}
    if model.id not in rows or serving:  # keep what an existing row says besides
        store.write_models(pa.Table.from_pylist([row | serving]))
    registered, _ = embed_store(store, version, model_ids=[model.id])
    embedded = store.read_model_embeddings(registered)
    n = embedded.filter(pc.equal(embedded.column("model_id"), model.id)).column("n_evaluations")[0].as_py()
    log(f"{model.id}: registered in version {registered}, embedded from {n} evaluations")
    return Onboarded(model.id, registered, before, now - before, n)
