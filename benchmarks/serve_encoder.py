"""Routing-encoder variants (truncation, int8): encoding speed on this machine and the test
routing and correctness accuracy they give a registered version.

    python benchmarks/serve_encoder.py --root STORE --out benchmarks/results/serve-encoder.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from locus.embedding import embed_models, predict_matrix
from locus.encoders import DEFAULT_ENCODER, load_serving_encoder
from locus.heldout import checkpoint_data
from locus.metrics import correctness_accuracy, routing_accuracy
from locus.store import Store

VARIANTS = [("exact", None, False), ("int8", None, True), ("128 word pieces", 128, False),
            ("64 word pieces", 64, False), ("128 + int8", 128, True), ("64 + int8", 64, True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/serve-encoder.json"))
    args = parser.parse_args()
    store = Store(args.root)
    checkpoint, data, split = checkpoint_data(store)
    train = data.restrict(split.train)
    z = embed_models(checkpoint.model, data.phi, train.query_index, train.scores)
    scores = data.dense(split.test)
    texts = dict(zip(*store.read_queries().select(["query_id", "text"]).to_pydict().values(), strict=True))
    test_texts = [texts[data.query_ids[q]] for q in split.test]
    stored = data.phi[split.test]
    results = {}
    for name, max_tokens, int8 in VARIANTS:
        encoder = load_serving_encoder(DEFAULT_ENCODER, max_tokens=max_tokens, int8=int8)
        encoder.encode(test_texts[:32])  # warm-up
        start = time.perf_counter()
        phi = np.asarray(encoder.encode(test_texts, batch_size=32), dtype=np.float32)
        batch_s = time.perf_counter() - start
        start = time.perf_counter()
        for text in test_texts[:64]:
            encoder.encode([text])
        single_ms = (time.perf_counter() - start) / 64 * 1000
        probs = predict_matrix(checkpoint.model, z, phi)
        cosine = (phi * stored).sum(1) / np.linalg.norm(phi, axis=1) / np.linalg.norm(stored, axis=1)
        results[name] = {"batch_qps": len(test_texts) / batch_s, "single_ms": single_ms,
                         "routing_acc": routing_accuracy(probs, scores),
                         "correctness_acc": correctness_accuracy(probs, scores), "cosine": float(cosine.mean())}
        print(name, results[name], flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
