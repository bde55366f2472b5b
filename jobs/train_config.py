"""The typed config of a Ray Train run (`locus train`, its YAML): the run, where it is stored, and
its scale and fault tolerance. Importable without Ray or torch, so the CLI's flags come from it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from locus.store import StorageRoot
from locus.training import TrainRun


class ScalingSpec(BaseModel):
    """Ray Train workers and what each one holds."""

    model_config = ConfigDict(extra="forbid")

    workers: int = Field(2, ge=1, description="training workers (one DDP process each)")
    gpu: bool = Field(False, description="one GPU per worker (nccl); otherwise CPU (gloo)")
    cpus_per_worker: float = Field(1.0, gt=0, description="CPUs reserved by each worker")


class TrainJobConfig(TrainRun):
    """A `locus train` run: the run (data, model, optimisation), where it is stored, and its scale and
    fault tolerance on Ray Train (YAML or flags)."""

    root: StorageRoot = Field(description="storage root holding the tables; runs go to <root>/runs")
    scaling: ScalingSpec = Field(default_factory=ScalingSpec)
    max_failures: int = Field(2, ge=-1, description="worker-group restarts from the last checkpoint (-1: no limit)")
    keep_checkpoints: int = Field(3, ge=1, description="Ray Train checkpoints kept, best by the monitored metric")
    name: str | None = Field(None, description="run name under <root>/runs (default: the version id)")
