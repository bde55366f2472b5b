"""Encoder checkpoints in the store: weights plus the config, query encoder, data snapshot and
metrics needed to use them safely. `checkpoints/LATEST` names the newest version.

torch and the model are imported where weights are read or written, so that checking for a
version (`resolve_version`, before a command writes anything or starts Ray) answers at once."""

from __future__ import annotations

import io
import json
import pickle
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from locus.errors import LocusDataError
from locus.store import Store

if TYPE_CHECKING:
    from locus.calibration import RouteCalibration
    from locus.model import Locus

LATEST = "LATEST"


@dataclass
class Checkpoint:
    """A loaded checkpoint: the network (eval mode) and its metadata."""

    version: str
    model: Locus
    encoder: str
    meta: dict[str, Any]

    @property
    def routing(self) -> RouteCalibration:
        from locus.calibration import RouteCalibration

        return RouteCalibration.from_dict(self.meta.get("routing"))


def new_version() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def save_checkpoint(store: Store, model: Locus, *, encoder: str, train_config: dict[str, Any],
                    snapshot: dict[str, Any], metrics: dict[str, Any], routing: RouteCalibration | None = None,
                    version: str | None = None) -> str:
    """Write weights, metadata and routing calibration under checkpoints/<version>/; point LATEST at it."""
    import torch

    from locus.calibration import RouteCalibration

    version = version or new_version()
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    meta = {"version": version, "encoder": encoder, "model_config": model.config.model_dump(),
            "train_config": train_config, "snapshot": snapshot, "metrics": metrics,
            "routing": (routing or RouteCalibration()).to_dict(), "created_at": datetime.now(UTC).isoformat()}
    store.write_bytes(buffer.getvalue(), "checkpoints", version, "model.pt")
    store.write_bytes(json.dumps(meta, indent=2).encode(), "checkpoints", version, "checkpoint.json")
    store.write_bytes(version.encode(), "checkpoints", LATEST)
    return version


def list_checkpoints(store: Store) -> list[dict[str, Any]]:
    """Metadata of every registered version, oldest first; an unreadable one says why under 'error'."""
    latest = store.read_bytes("checkpoints", LATEST).decode().strip() if store.exists("checkpoints", LATEST) else None
    entries = []
    for version in store.listdir("checkpoints"):
        if version == LATEST:
            continue
        try:
            meta = json.loads(store.read_bytes("checkpoints", version, "checkpoint.json"))
        except (OSError, ValueError) as exc:
            meta = {"version": version, "created_at": "", "error": f"unreadable: {exc}"}
        entries.append(meta | {"latest": version == latest})
    return sorted(entries, key=lambda e: (e["created_at"], e["version"]))


def resolve_version(store: Store, version: str = "latest") -> str:
    """The registered version `version` names ('latest' follows LATEST); fails clearly if there is none.
    Reads no weights: cheap enough to check before any write or any cluster start."""
    if version == "latest":
        if not store.exists("checkpoints", LATEST):
            raise LocusDataError(f"store {store.uri}: no trained version (checkpoint) yet; train one with `locus fit` "
                                 "or `locus train`")
        version = store.read_bytes("checkpoints", LATEST).decode().strip()
    if not store.exists("checkpoints", version, "checkpoint.json"):
        raise LocusDataError(f"--version: checkpoint {version!r} not found under {store.path('checkpoints')} "
                             "(`locus runs` lists them)")
    return version


def training_data(store: Store, version: str) -> Store:
    """`store` with every table pinned to the version that `version` trained on (time travel)."""
    version = resolve_version(store, version)
    meta = json.loads(store.read_bytes("checkpoints", version, "checkpoint.json"))
    versions = meta.get("snapshot", {}).get("table_versions")
    if not versions:
        raise LocusDataError(f"--data-of: version {version!r} was trained before table versions were recorded")
    return store.at(versions)


def load_checkpoint(store: Store, version: str = "latest", *, encoder: str | None = None) -> Checkpoint:
    """Load a checkpoint; fails clearly if it is missing, corrupt, or made with another encoder."""
    import torch

    from locus.model import Locus, ModelConfig

    version = resolve_version(store, version)
    try:
        meta = json.loads(store.read_bytes("checkpoints", version, "checkpoint.json"))
        # versions saved before the mean path existed were trained without it
        model = Locus(ModelConfig(**{"mean_path": False} | meta["model_config"]))
        state = torch.load(io.BytesIO(store.read_bytes("checkpoints", version, "model.pt")), weights_only=True)
        model.load_state_dict(state)
    except (OSError, EOFError, KeyError, ValueError, RuntimeError, pickle.UnpicklingError) as exc:
        raise LocusDataError(f"checkpoint {version!r} is corrupt or incomplete: {exc}") from exc
    if encoder is not None and meta["encoder"] != encoder:
        raise LocusDataError(f"checkpoint {version!r} was trained on query encoder {meta['encoder']!r}, "
                             f"not {encoder!r}; re-train or use --encoder {meta['encoder']}")
    model.eval()
    return Checkpoint(version=version, model=model, encoder=meta["encoder"], meta=meta)
