"""Leaderboard-style prompts: what each text policy does to near-duplicate query vectors and to
quality. The MMLU-Pro questions are stored as a leaderboard stores them: the whole 5-shot prompt
(a header naming the subject and five worked examples of that subject, then the question), so
the encoder's 256-word-piece window holds mostly the shared preamble. Each policy encodes the
same table; LOCUS, matrix factorisation and kNN are fitted on each (same split, seed, budget).
The bare questions (what the MMLU-Pro importer stores) are the reference.

    python benchmarks/query_policy.py --data ../shared/data/mmlu-pro-outputs --out benchmarks/results/query-policy.json
    python benchmarks/query_policy.py --sample --out /tmp/query-policy.json   # the bundled 3,000 questions
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from locus.bench.quality import run_quality_benchmark
from locus.encoders import DEFAULT_ENCODER, encode_store
from locus.importers import import_tables, read_mmlu_pro
from locus.query_text import POLICIES, encoder_key
from locus.sample import sample_tables
from locus.store import Store
from locus.training import TrainConfig

SHOTS = 5
HEADER = ("The following are multiple choice questions (with answers) about {subject}. Think step by step and "
          "then finish your answer with \"the answer is (X)\" where X is the correct letter choice.")


def leaderboard_prompts(queries: pa.Table) -> pa.Table:
    """`queries` with each text replaced by its 5-shot prompt: the subject's header and its first five
    questions (by id) with their answers, then the question itself."""
    subjects = [json.loads(m or "{}").get("category") or "general" for m in queries.column("metadata").to_pylist()]
    texts, answers = queries.column("text").to_pylist(), queries.column("answer").to_pylist()
    shots: dict[str, list[str]] = {}
    for text, answer, subject in zip(texts, answers, subjects, strict=True):
        if len(shots.setdefault(subject, [])) < SHOTS:
            shots[subject].append(f"Question: {text}\nAnswer: Let's think step by step. The answer is ({answer}).")
    prompts = ["\n\n".join([HEADER.format(subject=s), *shots[s], f"Question: {t}\nAnswer: Let's think step by step."])
               for t, s in zip(texts, subjects, strict=True)]
    return queries.set_column(queries.column_names.index("text"), "text", pa.array(prompts, pa.string()))


def near_duplicates(store: Store, encoder: str, threshold: float = 0.98) -> float:
    """Share of queries whose most similar other query has cosine similarity above `threshold`."""
    _, vectors = store.read_query_embeddings(encoder)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    best = np.full(len(unit), -1.0)
    for start in range(0, len(unit), 2048):
        sims = unit[start:start + 2048] @ unit.T
        sims[np.arange(len(sims)), np.arange(start, start + len(sims))] = -1.0
        best[start:start + len(sims)] = sims.max(axis=1)
    return float((best > threshold).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/mmlu-pro-outputs"))
    parser.add_argument("--sample", action="store_true", help="the bundled sample instead of --data")
    parser.add_argument("--work", type=Path, default=Path("/tmp/locus-query-policy"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/query-policy.json"))
    parser.add_argument("--budget", type=int, default=None, help="training evaluations per model (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-minutes", type=float, default=None, help="wall-time budget of each LOCUS fit")
    args = parser.parse_args()
    queries, evaluations = (sample_tables() if args.sample
                            else read_mmlu_pro(sorted(args.data.glob("model_outputs_*.zip"))))
    prompts = leaderboard_prompts(queries)
    lengths = pc.utf8_length(prompts.column("text")).to_numpy()
    out: dict = {"queries": queries.num_rows, "models": len(set(evaluations.column("model_id").to_pylist())),
                 "budget": args.budget, "seed": args.seed, "max_minutes": args.max_minutes,
                 "prompt_chars": {"median": float(np.median(lengths)), "max": int(lengths.max())}, "tables": {}}
    config = TrainConfig(max_minutes=args.max_minutes)
    for table, source, policies in (("bare questions", queries, ("question",)), ("5-shot prompts", prompts, POLICIES)):
        store = Store(args.work / table.replace(" ", "-"))
        if not store.model_ids():
            import_tables(store, source, evaluations)
        for policy in policies:
            key = encoder_key(DEFAULT_ENCODER, policy)
            start = time.perf_counter()
            report = encode_store(store, key)
            row = {"encode_seconds": time.perf_counter() - start, "stripped": report.stripped,
                   "truncated": report.truncated, "near_duplicates": near_duplicates(store, key)}
            print(table, policy, row, flush=True)
            quality = run_quality_benchmark(store, encoder=key, budgets=[args.budget], seed=args.seed,
                                            methods=("locus", "mf", "knn"), config=config,
                                            log=lambda line: print(line, flush=True))
            row |= {m: quality[m][str(args.budget) if args.budget else "all"] for m in ("locus", "mf", "knn")}
            out["tables"][f"{table} / {policy}"] = row
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
