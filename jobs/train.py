"""Distributed training with Ray Train: the core `Trainer` on every worker, each holding a shard
of the models read from the store itself, DDP averaging the gradients (gloo on CPU, nccl on GPU).

Every epoch reports the validation metrics with a checkpoint of the full training state, so a
lost worker resumes from the last epoch (FailureConfig); the best weights are registered as a
version in the store's checkpoint registry when the run ends.
"""

from __future__ import annotations

import os
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from locus.jobs.train_config import TrainJobConfig

from locus.checkpoint import CheckpointMeta, new_version, read_meta
from locus.data import trainable_models
from locus.errors import LocusDataError
from locus.store import Store
from locus.training.collective import current as current_collective
from locus.training.run import build_trainer, pinned, register_run

STATE_FILE = "state.pt"


@dataclass
class TrainJobResult:
    meta: CheckpointMeta
    run_path: str

    @property
    def version(self) -> str:
        return self.meta.version


def preflight(job: TrainJobConfig) -> list[str]:
    """Checks that need no worker: evaluations, query embeddings, a writable run location.
    Returns the models to shard over the workers."""
    store = Store(job.root)
    models = trainable_models(store, job.encoder, job.exclude)
    if len(models) < job.scaling.workers:
        raise LocusDataError(f"{len(models)} models cannot be sharded over {job.scaling.workers} workers; "
                             f"use --workers {len(models)} or fewer")
    try:
        store.write_bytes(b"ok", "runs", ".writable")
    except OSError as exc:
        raise LocusDataError(f"storage root {store.uri}: cannot write runs under {store.path('runs')}: {exc}") from exc
    return models


def _maybe_fail(epoch: int, rank: int, world_size: int) -> None:
    """Test-only fault injection: the last worker dies once after epoch LOCUS_FAIL_AFTER_EPOCH
    (LOCUS_FAIL_MARKER records that it did, so the resumed run carries on)."""
    after, marker = os.environ.get("LOCUS_FAIL_AFTER_EPOCH"), os.environ.get("LOCUS_FAIL_MARKER")
    if after and marker and int(after) == epoch and rank == world_size - 1 and not Path(marker).exists():
        Path(marker).write_text(f"worker {rank} killed after epoch {epoch}\n")
        os._exit(1)


def _show(epochs, metrics: dict[str, float]) -> None:
    """Send an epoch's metrics to the driver; progress is not worth a failed run (the queue's actor
    is gone when the driver is)."""
    from ray.exceptions import RayActorError

    try:
        epochs.put(metrics)
    except RayActorError:
        print(f"locus: epoch {int(metrics['epoch'])} not shown: the driver's progress queue is gone", flush=True)


def train_worker(loop_config: dict[str, Any]) -> None:
    """Runs on every Ray Train worker: read this worker's shard, train, checkpoint, register."""
    import ray.train
    import ray.train.torch

    job = TrainJobConfig.model_validate(loop_config["job"])
    context = ray.train.get_context()
    rank, world_size = context.get_world_rank(), context.get_world_size()
    store = Store(job.root, versions=loop_config["table_versions"], check_layout=False)
    trainer = build_trainer(store, job, loop_config["models"][rank::world_size], collective=current_collective(),
                            device=ray.train.torch.get_device(), prepare_model=ray.train.torch.prepare_model)
    restored = ray.train.get_checkpoint()
    if restored is not None:
        with restored.as_directory() as folder:
            trainer.load_state_dict(torch.load(Path(folder) / STATE_FILE, weights_only=False))
        if rank == 0:
            print(f"locus: resumed after epoch {trainer.epoch}", flush=True)

    def report(metrics: dict[str, float]) -> None:
        state = trainer.state_dict()  # every worker: it gathers each worker's sampling position
        with tempfile.TemporaryDirectory() as folder:
            checkpoint = None
            if rank == 0:
                torch.save(state, Path(folder) / STATE_FILE)
                checkpoint = ray.train.Checkpoint.from_directory(folder)
            ray.train.report(metrics, checkpoint=checkpoint)
        if rank == 0:
            _show(loop_config["epochs"], metrics)
        _maybe_fail(int(metrics["epoch"]), rank, world_size)

    result = trainer.fit(report)
    register_run(store, job, trainer, result, version=loop_config["version"], run_path=loop_config["run_path"])


@contextmanager
def _own_ctrl_c() -> Iterator[None]:
    """Ray Train installs a SIGINT handler for the run and leaves it behind; put ours back, or a
    later Ctrl-C (the quickstart's --keep-serving) would be swallowed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextmanager
def _epoch_feed(on_epoch: Callable[[dict[str, float]], None] | None) -> Iterator[Any]:
    """A Ray queue the rank-0 worker puts each epoch's metrics on, drained here by a thread that
    calls `on_epoch`: the driver shows progress once, whatever Ray does with workers' output. The
    queue's actor lives on the driver's node, which lives as long as the driver: on another one,
    losing that node would lose every later epoch's progress. (Not `soft`: a node of no CPUs, as a
    cluster's head, is passed over for a soft affinity while it starts another worker.)"""
    import ray
    from ray.exceptions import RayActorError
    from ray.util.queue import Empty, Queue
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    here = NodeAffinitySchedulingStrategy(node_id=ray.get_runtime_context().get_node_id(), soft=False)
    queue, done = Queue(actor_options={"num_cpus": 0, "scheduling_strategy": here}), threading.Event()

    def drain() -> None:
        while not done.is_set() or not queue.empty():
            try:
                metrics = queue.get(timeout=0.5)
            except Empty:
                continue
            except RayActorError:  # (ActorUnavailableError too) progress is not worth a failed run
                return
            if on_epoch is not None:
                on_epoch(metrics)

    thread = threading.Thread(target=drain, name="locus-epochs", daemon=True)
    thread.start()
    try:
        yield queue
    finally:
        done.set()
        thread.join(timeout=10)
        queue.shutdown()


def run_training(job: TrainJobConfig, *, address: str | None = None,
                 on_epoch: Callable[[dict[str, float]], None] | None = None,
                 log_file: Path | None = None) -> TrainJobResult:
    """Train on a local Ray cluster (started here) or the one at `address`; returns the registered version.
    `on_epoch` is called in this process with each epoch's validation metrics; with `log_file`, Ray's
    own output goes there (see `ray_session`)."""
    import ray.train
    from locus.jobs.ray_session import ray_session
    from ray.train.torch import TorchConfig, TorchTrainer

    models = preflight(job)
    store = pinned(Store(job.root))
    version = new_version()
    name = job.name or version
    local = "://" not in store.uri
    run_config = ray.train.RunConfig(
        name=name, storage_path=store.path("runs"), storage_filesystem=None if local else store.fs,
        checkpoint_config=ray.train.CheckpointConfig(
            num_to_keep=job.keep_checkpoints, checkpoint_score_attribute=job.train.monitor,
            checkpoint_score_order="max" if job.train.higher_is_better else "min"),
        failure_config=ray.train.FailureConfig(max_failures=job.max_failures))
    scaling = ray.train.ScalingConfig(num_workers=job.scaling.workers, use_gpu=job.scaling.gpu,
                                      resources_per_worker={"CPU": job.scaling.cpus_per_worker})
    with (ray_session(address, num_cpus=max(2, int(job.scaling.workers * job.scaling.cpus_per_worker)),
                      log_file=log_file),
          _epoch_feed(on_epoch) as epochs):
        loop_config = {"job": job.model_dump(), "models": models, "version": version,
                       "table_versions": store.versions,
                       "run_path": store.path("runs", name), "epochs": epochs}
        trainer = TorchTrainer(train_worker, train_loop_config=loop_config, scaling_config=scaling,
                               run_config=run_config,
                               torch_config=TorchConfig(backend="nccl" if job.scaling.gpu else "gloo"))
        with _own_ctrl_c():
            trainer.fit()
    return TrainJobResult(meta=read_meta(store, version), run_path=store.path("runs", name))
