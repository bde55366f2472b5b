"""Scale benchmark: a generated store of 6,000 models x 700 queries (~3 million evaluations)
goes through CSV import, query encoding, training and the quality benchmark; wall time and
peak memory (RSS) of each stage are written as JSON.

    python benchmarks/scale.py --work /tmp/locus-scale --out benchmarks/results/scale.json

The data come from a latent-skill model: each query belongs to one of 8 topics whose words
appear in its text (so the query encoder sees the structure), each model family has its own
skill profile, p(correct) = sigmoid(skill . loading - difficulty), and ~71% of cells are observed.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from locus.bench.quality import run_quality_benchmark
from locus.encoders import DEFAULT_ENCODER, encode_store
from locus.importers import import_tables
from locus.importers.table import read_evaluations_file, read_queries_file
from locus.model import ModelShape
from locus.store import Store
from locus.training import TrainConfig, TrainRun
from locus.training.run import train_version

TOPICS = {
    "algebra": ["equation", "polynomial", "root", "variable", "solve", "factor"],
    "biology": ["cell", "protein", "enzyme", "gene", "membrane", "organism"],
    "chemistry": ["molecule", "reaction", "acid", "bond", "electron", "solution"],
    "history": ["empire", "treaty", "revolution", "dynasty", "war", "century"],
    "law": ["contract", "court", "statute", "liability", "plaintiff", "tort"],
    "physics": ["velocity", "force", "energy", "momentum", "field", "particle"],
    "economics": ["market", "inflation", "demand", "supply", "tariff", "interest"],
    "programming": ["function", "loop", "array", "compiler", "pointer", "recursion"],
}


def generate(work: Path, models: int, queries: int, density: float, seed: int) -> tuple[Path, Path]:
    rng = np.random.default_rng(seed)
    names = list(TOPICS)
    topic = rng.integers(0, len(names), size=queries)
    texts = [f"In {names[t]}, consider the {' and the '.join(rng.choice(TOPICS[names[t]], 3, replace=False))}: "
             f"which statement about case {i} is correct?" for i, t in enumerate(topic)]
    loading = np.eye(len(names))[topic] + 0.2 * rng.normal(size=(queries, len(names)))
    difficulty = rng.normal(0.3, 1.0, size=queries)
    families = rng.normal(0, 1.0, size=(20, len(names)))
    family = rng.integers(0, 20, size=models)
    skill = families[family] + 0.5 * rng.normal(size=(models, len(names))) + rng.normal(0, 0.7, size=(models, 1))
    p = 1 / (1 + np.exp(-(skill @ loading.T * 1.5 - difficulty)))
    observed = rng.random((models, queries)) < density
    m, q = np.nonzero(observed)
    y = (rng.random(len(m)) < p[m, q]).astype(np.float32)
    query_ids = np.array([f"scale-{i:04d}" for i in range(queries)])
    model_ids = np.array([f"family{f:02d}-model{i:05d}" for i, f in enumerate(family)])
    work.mkdir(parents=True, exist_ok=True)
    pacsv.write_csv(pa.table({"query_id": query_ids, "text": texts, "benchmark": ["scale"] * queries}),
                    work / "queries.csv")
    pacsv.write_csv(pa.table({"model_id": model_ids[m], "query_id": query_ids[q], "score": y}),
                    work / "evaluations.csv")
    return work / "queries.csv", work / "evaluations.csv"


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("/tmp/locus-scale"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/scale.json"))
    parser.add_argument("--models", type=int, default=6000)
    parser.add_argument("--queries", type=int, default=700)
    parser.add_argument("--density", type=float, default=0.714)
    parser.add_argument("--budgets", default="128", help="budgets for the quality benchmark")
    parser.add_argument("--max-epochs", type=int, default=TrainConfig().max_epochs,
                        help="training epochs at most (smaller for a smoke run)")
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="wall-time budget of each training run (the learning-rate schedule fits in it)")
    parser.add_argument("--batch-tokens", type=int, default=TrainConfig().batch_tokens,
                        help="evaluations per optimiser step")
    parser.add_argument("--query-components", type=int, default=ModelShape().query_components,
                        help="query coordinates the network reads (0: the raw vectors)")
    parser.add_argument("--fit", action=argparse.BooleanOptionalAction, default=True,
                        help="train and register a version on every evaluation first (--no-fit: only the "
                        "quality benchmark at --budgets)")
    parser.add_argument("--seed", type=int, default=0, help="seed of training and of the benchmark's split "
                        "(the generated pool is the same for every seed)")
    args = parser.parse_args()
    stages: dict[str, dict] = {}

    def stage(name: str, start: float, **extra) -> None:
        stages[name] = {"seconds": time.perf_counter() - start, "peak_rss_gib": peak_rss_gib(), **extra}
        print(name, stages[name], flush=True)

    start = time.perf_counter()
    queries_csv, evaluations_csv = generate(args.work, args.models, args.queries, args.density, seed=0)
    stage("generate", start)
    store = Store(args.work / "store")
    start = time.perf_counter()
    report = import_tables(store, read_queries_file(queries_csv), read_evaluations_file(evaluations_csv))
    stage("import_csv", start, evaluations=report.evaluations, models=report.models)
    start = time.perf_counter()
    encode_store(store, DEFAULT_ENCODER)
    stage("encode", start)
    config = TrainConfig(max_epochs=args.max_epochs, seed=args.seed, max_minutes=args.max_minutes,
                         batch_tokens=args.batch_tokens)
    shape = ModelShape(query_components=args.query_components)
    if args.fit:
        start = time.perf_counter()
        summary = train_version(store, TrainRun(encoder=DEFAULT_ENCODER, train=config, model=shape),
                                on_epoch=lambda m: print({k: round(v, 4) for k, v in m.items()}, flush=True))
        stage("fit", start, best_epoch=summary.result.best_epoch, epochs=len(summary.result.history),
              test=summary.meta.metrics.test)
    start = time.perf_counter()
    quality = run_quality_benchmark(store, encoder=DEFAULT_ENCODER,
                                    budgets=[int(b) for b in args.budgets.split(",")], seed=args.seed,
                                    config=config, shape=shape)
    stage("quality_benchmark", start, results=quality)
    total = sum(s["seconds"] for k, s in stages.items() if k not in {"generate", "import_csv"})
    out = {"models": args.models, "queries": args.queries, "seed": args.seed, "max_minutes": args.max_minutes,
           "train": config.model_dump(), "model": shape.model_dump(), "stages": stages,
           "train_and_benchmark_seconds": total, "peak_rss_gib": peak_rss_gib()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
