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

from pydantic import BaseModel, ConfigDict, Field, model_validator

from locus.calibration import RouteCalibration
from locus.data import SplitMethod
from locus.errors import LocusDataError
from locus.model import ModelConfig
from locus.store import Store
from locus.training import TrainConfig

if TYPE_CHECKING:
    from locus.model.locus import Locus

LATEST = "LATEST"
Metrics = dict[str, int | float]


class Snapshot(BaseModel):
    """Which data a run saw. `Store.at(table_versions)` reads exactly that data again."""

    models: list[str] = Field(description="the models trained on")
    n_train_evaluations: int
    n_queries: int = Field(description="queries in the store under the run's encoder")
    split: SplitMethod = Field("permutation", description="versions saved before the hash split used the "
                                                          "permutation")
    split_seed: int = 0
    scorer: str | None = None
    table_versions: dict[str, int | None] | None = Field(None, description="None: saved before they were recorded")


class RunMetrics(BaseModel):
    best_epoch: int
    validation: Metrics = Field(description="the best epoch's validation metrics")
    test: Metrics = Field(description="test-split quality, with single_best and oracle for reference")
    history: list[Metrics] = Field(description="every epoch's validation metrics")
    seconds: float
    workers: int = Field(1, description="training processes (Ray Train workers)")
    run: str | None = Field(None, description="the Ray Train run's folder")


class CheckpointMeta(BaseModel):
    """Everything saved beside a version's weights (checkpoint.json)."""

    model_config = ConfigDict(populate_by_name=True)

    version: str
    encoder: str = Field(description="the query encoder the network reads")
    network: ModelConfig = Field(alias="model_config")
    train_config: TrainConfig
    snapshot: Snapshot
    metrics: RunMetrics
    routing: RouteCalibration = Field(default_factory=RouteCalibration)
    created_at: str = ""

    @model_validator(mode="before")
    @classmethod
    def _older_versions(cls, meta: Any) -> Any:
        """Versions saved by earlier releases: no mean path, raw query vectors, no refinement, the
        permutation split, settings since removed."""
        if not isinstance(meta, dict) or "model_config" not in meta:
            return meta
        meta = dict(meta)
        older = {"mean_path": False, "query_components": 0, "refine_steps": 0}
        meta["model_config"] = older | dict(meta["model_config"])
        train = {k: v for k, v in meta.get("train_config", {}).items() if k in TrainConfig.model_fields}
        meta["train_config"] = {"split": "permutation"} | train
        if meta.get("routing") is None:
            meta.pop("routing", None)
        return meta

    def to_json(self) -> bytes:
        return json.dumps(self.model_dump(by_alias=True), indent=2).encode()


@dataclass
class Checkpoint:
    """A loaded checkpoint: the network (eval mode) and its metadata."""

    model: Locus
    meta: CheckpointMeta

    @property
    def version(self) -> str:
        return self.meta.version

    @property
    def encoder(self) -> str:
        return self.meta.encoder

    @property
    def routing(self) -> RouteCalibration:
        return self.meta.routing


@dataclass
class Registered:
    """A version in the registry: its metadata, or why it cannot be read."""

    version: str
    latest: bool
    meta: CheckpointMeta | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        body = self.meta.model_dump(by_alias=True) if self.meta else {"version": self.version, "error": self.error}
        return body | {"latest": self.latest}


def new_version() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def save_checkpoint(store: Store, model: Locus, *, encoder: str, train_config: TrainConfig, snapshot: Snapshot,
                    metrics: RunMetrics, routing: RouteCalibration | None = None, version: str | None = None) -> str:
    """Write weights, metadata and routing calibration under checkpoints/<version>/; point LATEST at it."""
    import torch

    version = version or new_version()
    meta = CheckpointMeta(version=version, encoder=encoder, network=model.config, train_config=train_config,
                          snapshot=snapshot, metrics=metrics, routing=routing or RouteCalibration(),
                          created_at=datetime.now(UTC).isoformat())
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    store.write_bytes(buffer.getvalue(), "checkpoints", version, "model.pt")
    store.write_bytes(meta.to_json(), "checkpoints", version, "checkpoint.json")
    store.write_bytes(version.encode(), "checkpoints", LATEST)
    return version


def read_meta(store: Store, version: str) -> CheckpointMeta:
    return CheckpointMeta.model_validate_json(store.read_bytes("checkpoints", version, "checkpoint.json"))


def list_checkpoints(store: Store) -> list[Registered]:
    """Every registered version, oldest first; an unreadable one says why in `error`."""
    from pydantic import ValidationError

    latest = store.read_bytes("checkpoints", LATEST).decode().strip() if store.exists("checkpoints", LATEST) else None
    entries = []
    for version in store.listdir("checkpoints"):
        if version == LATEST:
            continue
        try:
            entries.append(Registered(version, version == latest, meta=read_meta(store, version)))
        except (OSError, ValueError, ValidationError) as exc:
            entries.append(Registered(version, version == latest, error=f"unreadable: {exc}"))
    return sorted(entries, key=lambda e: (e.meta.created_at if e.meta else "", e.version))


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
    versions = read_meta(store, version).snapshot.table_versions
    if not versions:
        raise LocusDataError(f"--data-of: version {version!r} was trained before table versions were recorded")
    return store.at(versions)


def load_checkpoint(store: Store, version: str = "latest", *, encoder: str | None = None) -> Checkpoint:
    """Load a checkpoint; fails clearly if it is missing, corrupt, or made with another encoder."""
    import torch
    from pydantic import ValidationError

    from locus.model.locus import Locus

    version = resolve_version(store, version)
    try:
        meta = read_meta(store, version)
        model = Locus(meta.network)
        state = torch.load(io.BytesIO(store.read_bytes("checkpoints", version, "model.pt")), weights_only=True)
        model.load_state_dict(state)
    except (OSError, EOFError, KeyError, ValueError, RuntimeError, pickle.UnpicklingError, ValidationError) as exc:
        raise LocusDataError(f"checkpoint {version!r} is corrupt or incomplete: {exc}") from exc
    if encoder is not None and meta.encoder != encoder:
        raise LocusDataError(f"checkpoint {version!r} was trained on query encoder {meta.encoder!r}, "
                             f"not {encoder!r}; re-train or use --encoder {meta.encoder}")
    model.eval()
    return Checkpoint(model=model, meta=meta)
