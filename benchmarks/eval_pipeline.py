"""Throughput of the evaluation pipeline against its parts, on a tiny local Llama (CPU vLLM):
generated tokens/s of `locus eval` (Ray Data + vLLM actor) vs plain `vllm.LLM.generate` in one
process vs transformers `generate`; and the query-encoding job's sentences/s vs plain `encode`.

    python benchmarks/eval_pipeline.py --out benchmarks/results/eval-pipeline.json

Wall times include engine start for both vLLM paths (the job starts one engine per model), and
the steady-state rate of plain vLLM is reported alongside.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ holds the tiny-model builder

from tests.conftest import sample_slice  # noqa: E402
from tests.jobs.tiny_llm import build_tiny_llama  # noqa: E402

N, MAX_TOKENS = 64, 64


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/eval-pipeline.json"))
    args = parser.parse_args()
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    work = Path(tempfile.mkdtemp(prefix="locus-bench-"))
    model = build_tiny_llama(work / "tiny", seed=0)
    queries, _ = sample_slice(N)
    prompts = [t[-600:] + "\nAnswer:" for t in queries.column("text").to_pylist()]
    results = {}

    from vllm import LLM, SamplingParams

    # ignore_eos: every request generates MAX_TOKENS, so all paths do the same work
    params = SamplingParams(temperature=0.0, max_tokens=MAX_TOKENS, ignore_eos=True)
    start = time.perf_counter()
    llm = LLM(model=str(model), dtype="float32", max_model_len=1024)
    ready = time.perf_counter()
    outputs = llm.generate(prompts, params, use_tqdm=False)
    done = time.perf_counter()
    tokens = sum(len(o.outputs[0].token_ids) for o in outputs)
    results["vllm_plain"] = {"tokens": tokens, "wall_s": done - start, "engine_start_s": ready - start,
                             "tokens_per_s_wall": tokens / (done - start),
                             "tokens_per_s_steady": tokens / (done - ready)}
    del llm

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer, hf = AutoTokenizer.from_pretrained(model), AutoModelForCausalLM.from_pretrained(model)
    start, generated = time.perf_counter(), 0
    with torch.no_grad():
        for p in prompts[:16]:  # one at a time, as a plain generate loop does
            ids = tokenizer(p, return_tensors="pt")["input_ids"][:, -900:]
            out = hf.generate(ids, max_new_tokens=MAX_TOKENS, min_new_tokens=MAX_TOKENS, do_sample=False)
            generated += out.shape[1] - ids.shape[1]
    results["transformers_generate"] = {"tokens": generated, "tokens_per_s": generated / (time.perf_counter() - start)}

    from locus.jobs.evaluate import run_evaluation

    from locus.eval_config import EvalConfig
    from locus.store import Store

    store = Store(work / "store")
    store.write_queries(queries)
    config = EvalConfig.model_validate({
        "root": str(store.uri), "models": [{"id": "tiny", "path": str(model),
                                            "engine": {"dtype": "float32", "max_model_len": 1024}}],
        "benchmarks": [{"name": "mmlu-pro", "prompt": "{text}\nAnswer:", "scorer": {"name": "choice"}}],
        "sampling": {"temperature": 0.0, "max_tokens": MAX_TOKENS, "ignore_eos": True},
        "resources": {"batch_size": N, "chunk_size": N, "cpus_per_engine": 1}})
    start = time.perf_counter()
    run_evaluation(config, )
    wall = time.perf_counter() - start
    tokens = sum(store.read_generations().column("output_tokens").to_pylist())
    results["locus_eval_pipeline"] = {"tokens": tokens, "wall_s": wall, "tokens_per_s_wall": tokens / wall}
    results["pipeline_vs_plain_wall"] = results["locus_eval_pipeline"]["wall_s"] / results["vllm_plain"]["wall_s"]

    from locus.jobs.encode import run_encoding

    from locus.encoders import DEFAULT_ENCODER, encode_texts

    texts = sample_slice(1000)[0]
    encode_store = Store(work / "encode")
    encode_store.write_queries(texts)
    encode_texts(["warm up"], DEFAULT_ENCODER)
    start = time.perf_counter()
    encode_texts(texts.column("text").to_pylist(), DEFAULT_ENCODER)
    results["encode_plain_sentences_per_s"] = texts.num_rows / (time.perf_counter() - start)
    start = time.perf_counter()
    run_encoding(str(encode_store.uri), DEFAULT_ENCODER, )
    results["encode_ray_job_sentences_per_s"] = texts.num_rows / (time.perf_counter() - start)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
