"""Is the model behind a name still the one that was evaluated? Ray-free: the served model answers a
probe set of queries it was evaluated on before, scored as the evaluation scored them. Its fresh
scores are embedded and compared with the embedding of its stored scores on the same queries (what
the registered model answered there), against the spread between two disjoint sets of its own
stored evaluations of the same size: the noise any embedding from that many evaluations has. (Not
against the registered embedding itself: an embedding from a few dozen evaluations sits measurably
apart from the one from all of them, for the unchanged model too; that distance is reported.) The
probe's scores are also compared answer by answer with the stored ones.

A model is flagged when that distance is over `ratio` spreads, or when more than `max_changed` of
its probe scores differ from the stored ones (a deterministic model asked the same prompts answers
the same). `benchmarks/drift.py` measures both rules on MMLU-Pro."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from locus.errors import LocusDataError
from locus.store import Store

if TYPE_CHECKING:  # torch is imported when a check runs, not by the CLI's flags
    from locus.model.locus import Locus

PROBES = 32  # queries re-asked by default
SPLITS = 16  # random disjoint pairs the spread is the median over
RATIO = 1.0  # flag when the distance is over this many spreads
MAX_CHANGED = 0.2  # flag when more of the probe's scores than this differ from the stored ones


@dataclass(frozen=True)
class DriftReport:
    model_id: str
    probes: int  # queries asked again
    distance: float  # embedding of the fresh scores to that of the stored scores on the same queries
    spread: float  # median distance between the embeddings of two disjoint sets of that many stored evaluations
    ratio: float  # distance / spread
    to_registered: float  # embedding of the fresh scores to the registered embedding (from all evaluations)
    changed: float  # share of the probe's scores that differ from the stored ones (by more than 1/2)
    flagged: bool
    reasons: list[str]

    def as_dict(self) -> dict:
        return asdict(self)


def probe_positions(n_stored: int, probes: int, *, seed: int = 0) -> np.ndarray:
    """Which of a model's stored evaluations to re-ask: `probes` of them at random (all, when fewer)."""
    if probes < 2:
        raise LocusDataError(f"--probes: {probes} is too few; at least 2")
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_stored, size=min(probes, n_stored), replace=False))


def check_drift(model: Locus, phi: np.ndarray, stored_index: np.ndarray, stored_scores: np.ndarray,
                registered: np.ndarray, probe: np.ndarray, fresh_scores: np.ndarray, *, model_id: str,
                ratio: float = RATIO, max_changed: float = MAX_CHANGED, seed: int = 0) -> DriftReport:
    """Compare a model's fresh scores on `probe` (positions into its stored evaluations: query
    positions `stored_index` into `phi`, scores `stored_scores`) with what is stored and with its
    `registered` embedding."""
    n = len(probe)
    if n != len(fresh_scores):
        raise LocusDataError(f"{model_id}: {len(fresh_scores)} fresh scores for {n} probe queries")
    if len(stored_index) < 4:
        raise LocusDataError(f"{model_id}: {len(stored_index)} stored evaluations; drift needs at least 4 to "
                             f"measure their spread")
    from locus.embedding import embed_models

    size = min(n, len(stored_index) // 2)  # two disjoint sets of the probe's size, or halves
    rng = np.random.default_rng(seed)
    pairs = [rng.permutation(len(stored_index))[:2 * size] for _ in range(SPLITS)]
    index = [stored_index[probe], stored_index[probe],
             *(stored_index[p[h * size:(h + 1) * size]] for p in pairs for h in (0, 1))]
    scores = [np.asarray(fresh_scores, dtype=np.float32), stored_scores[probe],
              *(stored_scores[p[h * size:(h + 1) * size]] for p in pairs for h in (0, 1))]
    z = embed_models(model, phi, index, scores)
    distance = float(np.linalg.norm(z[0] - z[1]))
    spread = float(np.median(np.linalg.norm(z[2::2] - z[3::2], axis=1)))
    changed = float(np.mean(np.abs(np.asarray(fresh_scores) - stored_scores[probe]) > 0.5))
    share = distance / spread if spread > 0 else float("inf") if distance > 0 else 0.0
    reasons = [*([f"its answers embed {share:.2f} spreads from its stored ones (over {ratio:g})"]
                 if share > ratio else []),
               *([f"{changed:.0%} of its probe scores changed (over {max_changed:.0%})"] if changed > max_changed
                 else [])]
    return DriftReport(model_id, n, distance, spread, share, float(np.linalg.norm(z[0] - registered)), changed,
                       bool(reasons), reasons)

def ask_backend(base_url: str, served_name: str, prompts: list[str], sampling: dict[str, Any], *,
                api_key: str | None = None, timeout_s: float = 120.0, concurrency: int = 8) -> list[str]:
    """The completion of each prompt by `served_name` at an OpenAI-compatible API root (a vLLM
    server, the gateway's Serve LLM app, a hosted API)."""

    def one(prompt: str) -> str:
        request = urllib.request.Request(
            base_url.rstrip("/") + "/completions", data=json.dumps({"model": served_name, "prompt": prompt,
                                                                    **sampling}).encode(),
            headers={"content-type": "application/json", **({"authorization": f"Bearer {api_key}"} if api_key else {})})
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as reply:
                return json.loads(reply.read())["choices"][0]["text"]
        except urllib.error.HTTPError as exc:
            raise LocusDataError(f"{base_url}: {served_name!r} answered {exc.code}: {exc.read()[:300]!r}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise LocusDataError(f"{base_url}: cannot reach the backend of {served_name!r} ({exc})") from None

    with ThreadPoolExecutor(concurrency) as threads:
        return list(threads.map(one, prompts))


def drift_of_served_model(store: Store, model_id: str, ask: Callable[[list[str]], list[str]], *, prompt: str,
                          scorer: str, scorer_params: dict[str, Any] | None = None, stored_scorer: str | None = None,
                          probes: int = PROBES,
                          version: str = "latest", seed: int = 0, ratio: float = RATIO,
                          max_changed: float = MAX_CHANGED) -> DriftReport:
    """Re-ask `model_id` (through `ask`: prompts in, completions out) `probes` of the queries it
    was evaluated on, score the answers with `scorer` as the evaluation did, and compare with its
    stored scores of `stored_scorer` (default: `scorer`; e.g. "mmlu-pro-pred" for imported MMLU-Pro
    outputs, which the choice scorer reproduces)."""
    from locus.checkpoint import load_checkpoint
    from locus.prompts import build_prompts
    from locus.scorers import text_scorer

    scoring = text_scorer(scorer, **(scorer_params or {}))
    checkpoint = load_checkpoint(store, version)
    embedded = store.read_model_embeddings(checkpoint.version)
    embedded = embedded.filter(pc.equal(embedded.column("model_id"), model_id))
    if embedded.num_rows == 0:
        raise LocusDataError(f"--model: {model_id!r} has no embedding in version {checkpoint.version}; register "
                             f"it (`locus embed`) first")
    stored = store.read_evaluations([model_id], missing_ok=True)
    stored_scorer = stored_scorer or scorer
    stored = stored.filter(pc.equal(stored.column("scorer"), stored_scorer)).sort_by("query_id")
    ids, phi = store.read_query_embeddings(checkpoint.encoder)
    position = {q: i for i, q in enumerate(ids)}
    stored = stored.filter(pc.is_in(stored.column("query_id"), value_set=pa.array(list(position), pa.string())))
    if stored.num_rows < 4:
        raise LocusDataError(f"--model: {model_id!r} has {stored.num_rows} encoded evaluations by scorer "
                             f"{stored_scorer!r}; the drift check re-asks queries it was evaluated on (check "
                             f"--stored-scorer)")
    probe = probe_positions(stored.num_rows, probes, seed=seed)
    asked_ids = stored.column("query_id").take(pa.array(probe))
    queries = store.read_queries()
    queries = queries.take(pc.index_in(asked_ids, value_set=queries.column("query_id")))
    outputs = ask(build_prompts(queries, prompt))
    fresh = np.array([scoring.score(o, a) for o, a in zip(outputs, queries.column("answer").to_pylist(),
                                                            strict=True)], dtype=np.float32)
    index = np.array([position[q] for q in stored.column("query_id").to_pylist()], dtype=np.int64)
    return check_drift(checkpoint.model, np.asarray(phi, dtype=np.float32), index,
                       stored.column("score").to_numpy().astype(np.float32), np.asarray(
                           embedded.column("vector")[0].as_py(), dtype=np.float32), probe, fresh,
                       model_id=model_id, ratio=ratio, max_changed=max_changed, seed=seed)
