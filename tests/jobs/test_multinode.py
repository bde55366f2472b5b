"""A real multi-node Ray cluster on this machine (`ray.cluster_utils.Cluster`: a head and worker
nodes, each its own raylet and object store, on 127.0.0.1) sharing one local storage root, and a
worker node lost mid-run. `pytest -k multinode` selects these."""

from __future__ import annotations

import threading
import time

import pytest
from locus.jobs.train import TrainJobConfig, run_training

from locus.checkpoint import load_checkpoint
from locus.training import TrainConfig

pytestmark = pytest.mark.slow  # starts a Ray cluster of three nodes and a training run

TRAIN = TrainConfig(max_batch_models=8, max_context=256, target_size=64, epoch_episodes=120, max_epochs=4, patience=10,
                    warmup_steps=10)
MODEL = {"dim": 32, "num_latents": 8}


@pytest.fixture
def cluster(monkeypatch):
    """A head (no CPU for tasks: what runs there is the driver's own) and two worker nodes of one
    CPU each; torn down node by node."""
    from ray.cluster_utils import Cluster

    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})  # its dashboard serves the state API
    for _ in range(2):
        cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    try:
        yield cluster
    finally:
        cluster.shutdown()


def _train_worker_nodes() -> list[str]:
    from ray.util.state import list_actors

    return sorted(a.node_id for a in list_actors(filters=[("state", "=", "ALIVE")])
                  if a.class_name.endswith("RayTrainWorker"))


def test_multinode_train_survives_a_lost_worker_node(cluster, encoded_store):
    """Two Train workers on the two worker nodes; after epoch 2 one node's raylet is killed and a
    node is started back: the run restarts its workers from the last checkpoint it registered and
    finishes. (Ray Train registers a reported checkpoint when its controller next polls the
    workers: a node lost within that interval also loses the newest epoch, so at most one epoch is
    redone.)"""
    seen: list[int] = []
    epoch_two, result, errors = threading.Event(), {}, []

    def on_epoch(metrics: dict) -> None:
        seen.append(int(metrics["epoch"]))
        if metrics["epoch"] == 2:
            epoch_two.set()

    def train() -> None:
        job = TrainJobConfig(root=str(encoded_store.uri), train=TRAIN, model=MODEL, scaling={"workers": 2},
                             max_failures=2)
        try:
            result["run"] = run_training(job, address=cluster.address, on_epoch=on_epoch)
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)

    runner = threading.Thread(target=train)
    runner.start()
    assert epoch_two.wait(300), f"no second epoch within 300 s ({errors})"
    import ray

    placed = _train_worker_nodes()
    # every node is 127.0.0.1, so the driver may have attached to a worker node's raylet: spare that one
    driver = ray.get_runtime_context().get_node_id()
    victim = next(n for n in cluster.worker_nodes if n.node_id in placed and n.node_id != driver)
    killed_at = time.monotonic()
    cluster.remove_node(victim)  # its raylet, object store and workers go down together
    cluster.add_node(num_cpus=1)  # capacity comes back, as an autoscaler would bring it
    runner.join(600)
    assert not runner.is_alive() and not errors, errors
    stall = time.monotonic() - killed_at
    history = [h["epoch"] for h in load_checkpoint(encoded_store, result["run"].version).meta.metrics.history]
    redone = len(seen) - len(set(seen))
    print(f"\nworkers on nodes {[n[:8] for n in placed]}; node {victim.node_id[:8]} killed after epoch 2; epochs "
          f"reported {seen} ({redone} redone); finished {stall:.0f} s after the kill")
    assert len(set(placed)) == 2  # one worker per worker node
    assert history == [1, 2, 3, 4] and redone <= 1 and seen[-1] == 4
