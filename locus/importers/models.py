"""Model metadata guessed from model ids: family and parameter count, where the name says."""

from __future__ import annotations

import re

import pyarrow as pa

from locus import schemas

FAMILIES = ("mixtral", "mathstral", "mistral", "llama", "qwen", "yi", "gemma", "gemini", "phi", "deepseek",
            "command-r", "jamba", "falcon", "olmo", "gpt", "claude")
_MOE = re.compile(r"(\d+)x(\d+(?:\.\d+)?)b", re.IGNORECASE)
_SIZE = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)b(?![a-z])", re.IGNORECASE)


def model_family(model_id: str) -> str:
    """The first known family named in the id (e.g. 'Meta-Llama-3_1-8B' -> 'llama'), else its first word."""
    name = model_id.lower()
    for family in FAMILIES:
        if family in name:
            return family
    return re.split(r"[-_/ ]", name)[0]


def parameter_count_b(model_id: str) -> float | None:
    """Billions of parameters from names like '70B', '8x7B' (total), '1.5b'; None when not stated."""
    name = model_id.split("/")[-1].replace("_", "-")
    if match := _MOE.search(name):
        return float(match.group(1)) * float(match.group(2))
    sizes = [float(m) for m in _SIZE.findall(name.replace("-", " "))]
    return max(sizes) if sizes else None


def describe_models(model_ids: list[str]) -> pa.Table:
    """A models table for `model_ids` with what their names reveal; other fields stay null."""
    rows = [{"model_id": m, "display_name": m, "family": model_family(m), "params_b": parameter_count_b(m),
             "available": True} for m in sorted(set(model_ids))]
    return schemas.conform(pa.Table.from_pylist(rows), schemas.MODELS, name="models")
