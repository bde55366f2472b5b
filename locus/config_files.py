"""Settings files: a YAML mapping read once, for every config that takes one (`locus train --config`,
`locus eval run`), and merged with the settings a command's flags give."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from locus.errors import LocusDataError


def read_settings(path: Path) -> dict[str, Any]:
    """The mapping in a YAML file; a clear error when it cannot be read or is not a mapping."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise LocusDataError(f"{path}: cannot read the settings: {exc}") from exc
    if not isinstance(data, dict):
        raise LocusDataError(f"{path}: expected a mapping of settings, got {type(data).__name__}")
    return data


def merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`base` with `over` on top, nested mappings merged key by key."""
    out = dict(base)
    for key, value in over.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out
