"""Evaluation job: for each model, a Ray Data pipeline reads the queries it has not answered yet,
builds prompts, generates with vLLM (an actor pool of engines), scores, and writes generations and
evaluations partitioned by model.

Incremental and crash-safe: only (model, query, scorer) triples missing from the store are
generated; results are written chunk by chunk, each chunk's generations before its evaluations,
both upserted atomically, so a killed job loses at most the chunk in flight and a re-run
finishes the rest with no duplicate. A query counts as done only once its evaluation exists.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from locus.errors import LocusDataError
from locus.eval_config import BenchmarkSpec, EvalConfig, ModelSpec
from locus.prompts import build_prompts
from locus.store import Store

Log = Callable[[str], None]


@dataclass
class ModelReport:
    model_id: str
    generated: dict[str, int] = field(default_factory=dict)  # "benchmark:scorer" -> new evaluations
    skipped: dict[str, int] = field(default_factory=dict)  # "benchmark:scorer" -> already in the store


def _key(bench: BenchmarkSpec) -> str:
    return f"{bench.name}:{bench.scorer.name}"


def select_queries(queries: pa.Table, bench: BenchmarkSpec) -> pa.Table:
    chosen = queries.filter(pc.equal(queries.column("benchmark"), bench.name)).sort_by("query_id")
    if chosen.num_rows == 0:
        raise LocusDataError(f"benchmarks: no queries with benchmark={bench.name!r} in the store")
    return chosen.slice(0, bench.limit) if bench.limit else chosen


def missing(store: Store, model_id: str, scorer: str, queries: pa.Table) -> pa.Table:
    """The queries this model has no evaluation for under this scorer."""
    done = store.read_evaluations([model_id], missing_ok=True)
    done = done.filter(pc.equal(done.column("scorer"), scorer)).column("query_id")
    return queries.filter(pc.invert(pc.is_in(queries.column("query_id"), value_set=done.combine_chunks())))


def _engine(spec: ModelSpec, config: EvalConfig, judge_prompt: str | None = None) -> dict:
    return {"path": spec.path, "engine": spec.engine, "sampling": config.sampling,
            "chat_template": spec.chat_template, "judge_prompt": judge_prompt}


def _scores(chunk: pa.Table, benchmarks: list[BenchmarkSpec]) -> np.ndarray:
    """Score every row with its benchmark's scorer (the judge stage's grades where it ran)."""
    bench_index = chunk.column("bench").to_numpy()
    outputs, answers = chunk.column("output").to_pylist(), chunk.column("answer").to_pylist()
    grades = chunk.column("judge_score").to_numpy() if "judge_score" in chunk.column_names else None
    scores = np.zeros(chunk.num_rows, dtype=np.float32)
    for b, bench in enumerate(benchmarks):
        rows = np.flatnonzero(bench_index == b)
        scores[rows] = bench.scorer.spec.score_batch([outputs[r] for r in rows], [answers[r] for r in rows],
                                                     None if grades is None else grades[rows], **bench.scorer.params)
    return scores


def _write_chunk(store: Store, model: ModelSpec, benchmarks: list[BenchmarkSpec], chunk: pa.Table, sampling: str,
                 engine: str) -> None:
    """Generations first, then evaluations: a query is done only once its evaluation is written."""
    now = pa.scalar(datetime.now(UTC), pa.timestamp("us", tz="UTC"))
    n = chunk.num_rows
    store.write_generations(pa.table({
        "model_id": [model.id] * n, "query_id": chunk.column("query_id"), "prompt": chunk.column("prompt"),
        "output": chunk.column("output"), "prompt_tokens": chunk.column("prompt_tokens"),
        "output_tokens": chunk.column("output_tokens"), "sampling": [sampling] * n, "engine": [engine] * n,
        "created_at": pa.repeat(now, n)}))
    scorers = [benchmarks[b].scorer.name for b in chunk.column("bench").to_pylist()]
    store.write_evaluations(pa.table({
        "model_id": [model.id] * n, "query_id": chunk.column("query_id"),
        "score": pa.array(_scores(chunk, benchmarks), pa.float32()), "scorer": scorers,
        "source": [f"locus eval: {model.path}"] * n}))


def evaluate_model(config: EvalConfig, model: ModelSpec, queries: pa.Table, log: Log) -> ModelReport:
    """One Ray Data pipeline for the model over every benchmark's missing queries (one engine start)."""
    import ray
    from locus.jobs.vllm_engine import VLLMEngine, engine_name

    store, res = Store(config.root), config.resources
    report = ModelReport(model.id)
    parts = []
    for b, bench in enumerate(config.benchmarks):
        chosen = select_queries(queries, bench)
        todo = missing(store, model.id, bench.scorer.name, chosen)
        report.skipped[_key(bench)], report.generated[_key(bench)] = chosen.num_rows - todo.num_rows, 0
        parts.append(todo.select(["query_id", "text", "answer", "choices"]).append_column(
            "prompt", pa.array(build_prompts(todo, bench.prompt), pa.string())).append_column(
            "mode", pa.array([bench.scorer.spec.needs] * todo.num_rows, pa.string())).append_column(
            "bench", pa.array([b] * todo.num_rows, pa.int64())))
    table = pa.concat_tables(parts)
    if table.num_rows == 0:
        log(f"{model.id}: every query already evaluated ({sum(report.skipped.values())})")
        return report
    log(f"{model.id}: {table.num_rows} to generate ({sum(report.skipped.values())} evaluated before)")
    pool = {"compute": ray.data.ActorPoolStrategy(size=res.engines), "batch_size": res.batch_size,
            "num_gpus": res.gpus_per_engine, "num_cpus": res.cpus_per_engine, "batch_format": "numpy"}
    # one block per batch: a single block would be one task, and every engine but one would sit idle
    blocks = [table.slice(i, res.batch_size) for i in range(0, table.num_rows, res.batch_size)]
    dataset = ray.data.from_arrow(blocks).map_batches(VLLMEngine, fn_constructor_kwargs=_engine(model, config), **pool)
    for bench in config.benchmarks:
        if bench.scorer.spec.needs == "judge":  # an extra stage: the judge model grades the answers
            dataset = dataset.map_batches(VLLMEngine, fn_constructor_kwargs=_engine(
                bench.scorer.judge, config, bench.scorer.judge_prompt), **pool)
    sampling, written = json.dumps(config.sampling, sort_keys=True), 0
    for chunk in dataset.iter_batches(batch_size=res.chunk_size, batch_format="pyarrow"):
        _write_chunk(store, model, config.benchmarks, chunk, sampling, engine_name())
        for b in chunk.column("bench").to_pylist():
            report.generated[_key(config.benchmarks[b])] += 1
        written += chunk.num_rows
        log(f"{model.id}: {written}/{table.num_rows} generated, scored and written")
    return report


def run_evaluation(config: EvalConfig, *, address: str | None = None, log: Log = print,
                   query_ids: list[str] | None = None) -> list[ModelReport]:
    """Evaluate every model of the config (parallel_models at a time) on a local or given Ray cluster,
    on every query of its benchmarks or only on `query_ids` of them."""
    from locus.jobs.ray_session import ray_session

    store = Store(config.root)
    queries = store.read_queries()
    if query_ids is not None:
        queries = queries.filter(pc.is_in(queries.column("query_id"), value_set=pa.array(query_ids, pa.string())))
    if queries.num_rows == 0:
        raise LocusDataError(f"store {store.uri}: no queries to evaluate; import some with `locus import`")
    for bench in config.benchmarks:
        select_queries(queries, bench)  # every benchmark has queries: fail before any engine starts
    with ray_session(address), ThreadPoolExecutor(config.resources.parallel_models) as threads:
        return list(threads.map(lambda m: evaluate_model(config, m, queries, log), config.models))
