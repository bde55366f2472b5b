"""A real multi-node Ray cluster on this machine (`ray.cluster_utils.Cluster`: a head and worker
nodes, each its own raylet and object store, on 127.0.0.1) sharing one local storage root; in each
scenario a worker node's raylet is killed (SIGKILL: its object store and workers go with it) while
a job runs on it, and a node is started back as an autoscaler would. `pytest -k multinode`
selects these; each prints what was killed, when, and what it cost."""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pytest
from locus.jobs.embed import run_embedding
from locus.jobs.evaluate import run_evaluation
from locus.jobs.ray_session import set_serve_env
from locus.jobs.train import TrainJobConfig, run_training
from ray.data import DataContext
from typer.testing import CliRunner

from locus.checkpoint import load_checkpoint
from locus.cli import app
from locus.encoders import DEFAULT_ENCODER
from locus.eval_config import EvalConfig
from locus.store import Store
from locus.training import TrainConfig
from tests.conftest import sample_slice
from tests.jobs.tiny_llm import build_tiny_llama
from tests.s3_server import s3_bucket

pytestmark = pytest.mark.slow  # starts a Ray cluster of three nodes and jobs on it

# epochs of a few seconds, and six left when the node is lost: it is lost while the run still goes,
# however slow the machine or the driver's progress thread (CI once saw epochs 3 and 4 of 4 done first)
EPOCHS = 8
TRAIN = TrainConfig(max_batch_models=8, max_context=256, target_size=64, epoch_episodes=480, max_epochs=EPOCHS,
                    patience=EPOCHS, warmup_steps=10)
MODEL = {"dim": 32, "num_latents": 8}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A head (no CPU for tasks: drivers, Serve's controller and proxy and job supervisors run
    there) and two worker nodes of one CPU each, shared by the module's scenarios; each scenario
    leaves two live worker nodes behind. Nodes inherit this environment: `locus` on PATH for the
    Jobs API's entrypoints, and the AWS_* variables of an S3-compatible server (bucket
    s3://locus-multinode) that every node reaches."""
    from ray.cluster_utils import Cluster

    with pytest.MonkeyPatch.context() as env, s3_bucket("locus-multinode", tmp_path_factory.mktemp("moto") / "log"):
        env.setenv("RAY_AUTH_MODE", "disabled")
        env.delenv("RAY_ADDRESS", raising=False)
        env.setenv("PATH", f"{Path(sys.executable).parent}:{os.environ['PATH']}")
        set_serve_env()  # as the platform's image: Serve's throughput mode behind HAProxy
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": True})
        for _ in range(2):
            cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        try:
            yield cluster
        finally:
            cluster.shutdown()


def _actor_nodes(cluster, class_name: str) -> list[str]:
    """The node of each live actor whose class name contains `class_name`."""
    from ray.util.state import list_actors

    alive = list_actors(address=f"http://{cluster.webui_url}", filters=[("state", "=", "ALIVE")], limit=10_000)
    return sorted(a.node_id for a in alive if class_name in a.class_name)


@dataclass
class NodeLoss:
    node_id: str
    at: float  # time.monotonic() of the kill

    def since(self) -> float:
        return time.monotonic() - self.at


def lose_a_node(cluster, nodes: list[str]) -> NodeLoss:
    """SIGKILL the raylet (with its object store and workers) of one of the worker `nodes` (say,
    those `_actor_nodes` found hosting some job's actors), then start a node back, as an autoscaler
    would bring capacity back. The drivers here attach to the head, which is never the one lost."""
    import ray

    driver = ray.get_runtime_context().get_node_id() if ray.is_initialized() else None
    victim = next(n for n in cluster.worker_nodes if n.node_id in nodes and n.node_id != driver)
    loss = NodeLoss(victim.node_id, time.monotonic())
    cluster.remove_node(victim, allow_graceful=False)
    cluster.add_node(num_cpus=1)
    return loss


def test_multinode_train_survives_a_lost_worker_node(cluster, encoded_store):
    """Two Train workers on the two worker nodes, the store and Ray Train's run on S3; after epoch 2
    one node's raylet is killed (the workers' nodes were looked up at epoch 1, so the kill follows
    epoch 2 at once) and a node is started back: the run restarts its workers from the
    last checkpoint it registered and finishes, without starting over. (Ray Train registers a
    reported checkpoint when its controller next polls the workers, every 2 s, and an epoch here
    takes a few seconds: the epochs reported within that interval are redone, one or two. A worker
    cannot report an epoch before its previous report was taken, so when epoch 2 was shown the
    epoch-1 checkpoint was registered.)"""
    import pyarrow.fs as pafs

    store = Store("s3://locus-multinode/train")
    pafs.copy_files(str(encoded_store.uri), store.base, source_filesystem=pafs.LocalFileSystem(),
                    destination_filesystem=store.fs)
    seen: list[int] = []
    placed: list[str] = []
    epoch_two, result, errors = threading.Event(), {}, []

    def on_epoch(metrics: dict) -> None:
        seen.append(int(metrics["epoch"]))
        if metrics["epoch"] == 1 and not placed:
            placed.extend(_actor_nodes(cluster, "RayTrainWorker"))
        if metrics["epoch"] == 2:
            epoch_two.set()

    def train() -> None:
        job = TrainJobConfig(root=store.uri, train=TRAIN, model=MODEL, scaling={"workers": 2},
                             max_failures=2)
        try:
            result["run"] = run_training(job, address=cluster.address, on_epoch=on_epoch)
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)

    runner = threading.Thread(target=train)
    runner.start()
    assert epoch_two.wait(300), f"no second epoch within 300 s ({errors})"
    loss = lose_a_node(cluster, placed)
    runner.join(600)
    assert not runner.is_alive() and not errors, errors
    stall = loss.since()
    history = [h["epoch"] for h in load_checkpoint(store, result["run"].version).meta.metrics.history]
    redone = len(seen) - len(set(seen))
    print(f"\nworkers on nodes {[n[:8] for n in placed]}; node {loss.node_id[:8]} killed after epoch 2; epochs "
          f"reported {seen} ({redone} redone); finished {stall:.0f} s after the kill")
    assert len(set(placed)) == 2  # one worker per worker node
    restart = next((i for i in range(1, len(seen)) if seen[i] <= seen[i - 1]), None)
    assert restart is not None, f"the run never restarted: {seen}"
    assert min(seen[restart:]) >= 2, f"the run started over instead of resuming: {seen}"
    assert history == list(range(1, EPOCHS + 1)) and seen[-1] == EPOCHS


N_EVAL = 24  # queries the evaluation job answers


def test_multinode_eval_survives_a_lost_engine_node(cluster, tmp_path):
    """Two vLLM engines (one per worker node) answer one model's queries; when the first chunk is
    in the store, the node of one engine is killed: Ray Data restarts that engine on the node
    started back and re-runs its lost batches, the job finishes, and every (model, query, scorer)
    is in the store exactly once."""
    store = Store(tmp_path / "store")
    queries, _ = sample_slice(N_EVAL)
    store.write_queries(queries)
    model = build_tiny_llama(tmp_path / "tiny", seed=0)
    config = EvalConfig.model_validate({
        "root": str(store.uri), "models": [{"id": "tiny", "path": str(model), "engine": {
            "dtype": "float32", "max_model_len": 1024, "enforce_eager": True}}],
        "benchmarks": [{"name": "mmlu-pro", "prompt": "{text}\nAnswer: the answer is (", "scorer": {"name": "choice"}}],
        "sampling": {"temperature": 0.0, "max_tokens": 32},
        "resources": {"engines": 2, "cpus_per_engine": 1, "batch_size": 2, "chunk_size": 2}})
    first_chunk, node_back, result, errors = threading.Event(), threading.Event(), {}, []

    def log(line: str) -> None:  # the driver waits here, between chunks, while the node is lost
        if "generated, scored and written" in line and not first_chunk.is_set():
            first_chunk.set()
            node_back.wait(120)

    def evaluate() -> None:
        try:
            result["reports"] = run_evaluation(config, address=cluster.address, log=log)
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)

    # Ray Data starts the job once both engines are up (else the first may answer everything before
    # the second has loaded, and the node lost would hold no work)
    context = DataContext.get_current()
    saved, context.wait_for_min_actors_s = context.wait_for_min_actors_s, 300
    runner = threading.Thread(target=evaluate)
    runner.start()
    try:
        assert first_chunk.wait(300), f"no chunk written within 300 s ({errors})"
    finally:
        context.wait_for_min_actors_s = saved
    engines, written = _actor_nodes(cluster, "MapWorker"), store.read_evaluations(["tiny"]).num_rows
    loss = lose_a_node(cluster, engines)  # signals: only from the main thread
    node_back.set()
    runner.join(300)
    assert not runner.is_alive() and not errors, errors
    stall, reports = loss.since(), result["reports"]
    evaluations = store.read_evaluations()
    keys = list(zip(*(evaluations.column(c).to_pylist() for c in ("model_id", "query_id", "scorer")), strict=True))
    print(f"\nengines on nodes {[n[:8] for n in engines]}; node {loss.node_id[:8]} killed with "
          f"{written}/{N_EVAL} queries in the store; the job finished {stall:.0f} s later with "
          f"{reports[0].generated} new evaluations")
    assert len(set(engines)) == 2  # one engine per worker node
    assert written < N_EVAL
    assert reports[0].generated == {"mmlu-pro:choice": N_EVAL}
    assert len(keys) == len(set(keys)) == N_EVAL  # every triple once
    assert set(evaluations.column("query_id").to_pylist()) == set(queries.column("query_id").to_pylist())
    assert store.read_generations().num_rows == N_EVAL
    assert set(pc.unique(evaluations.column("score")).to_pylist()) <= {0.0, 1.0}


N_ENCODE = 160  # queries the encoding job encodes


def _job(*args: str) -> str:
    result = CliRunner().invoke(app, ["job", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_multinode_job_encodes_then_embeds_with_a_lost_node(cluster, trained_store_template, tmp_path):
    """`locus job submit -- encode --ray --actors 2` to the head's Jobs API, followed with `locus job
    status` and `logs`; a node holding an encoder actor is killed while the job runs. Then the Ray
    Data embedding job, and the node of an embedding actor killed after its first batch is back.
    Both finish with every vector once, equal to the single-process results."""
    reference = Store(trained_store_template)
    all_ids, all_vectors = reference.read_query_embeddings(DEFAULT_ENCODER)
    embeddings = reference.read_model_embeddings()
    fresh = Store(tmp_path / "fresh")  # a few queries to encode: the job makes them once more
    queries, _ = sample_slice(N_ENCODE)
    fresh.write_queries(queries)
    query_ids = sorted(queries.column("query_id").to_pylist())
    query_vectors = all_vectors[[all_ids.index(q) for q in query_ids]]
    root = tmp_path / "store"  # the trained store without its model embeddings: the embed job makes them
    shutil.copytree(trained_store_template, root)
    shutil.rmtree(Store(root).path("model_embeddings"))
    address = f"http://{cluster.webui_url}"

    job_id = _job("submit", "--address", address, "--", "encode", "--root", str(fresh.uri), "--ray", "--actors",
                  "2", "--batch-size", "8").splitlines()[0].strip()
    deadline = time.monotonic() + 180
    while len(encoders := _actor_nodes(cluster, "MapWorker")) < 2:
        assert time.monotonic() < deadline, _job("logs", job_id, "--address", address)
        time.sleep(0.5)
    assert "RUNNING" in _job("status", job_id, "--address", address)
    assert len(fresh.encoded_query_ids(DEFAULT_ENCODER)) < N_ENCODE  # (one chunk: none yet)
    loss = lose_a_node(cluster, encoders)
    while "RUNNING" in (status := _job("status", job_id, "--address", address)):
        assert loss.since() < 300, _job("logs", job_id, "--address", address)
        time.sleep(1)
    encode_stall = loss.since()
    logs = _job("logs", job_id, "--address", address)
    assert "SUCCEEDED" in status, logs
    assert f"encoded {len(query_ids)} new of {len(query_ids)} queries" in logs
    ids, vectors = fresh.read_query_embeddings(DEFAULT_ENCODER)
    assert ids == query_ids  # each query once
    np.testing.assert_allclose(vectors, query_vectors, atol=1e-5)

    models = sorted(set(embeddings.column("model_id").to_pylist()))
    first: list[NodeLoss] = []

    def progress(n: int) -> None:  # on this thread, between batches: the job is mid-way
        if not first:
            first.append(lose_a_node(cluster, _actor_nodes(cluster, "MapWorker")))

    result = run_embedding(str(root), address=cluster.address, actors=2, batch_size=2, progress=progress)
    embed_stall = first[0].since()
    made = Store(root).read_model_embeddings()
    assert made.column("model_id").to_pylist() == models == sorted(result.model_ids)  # one vector per model
    np.testing.assert_allclose(np.stack(made.column("vector").to_numpy(zero_copy_only=False)),
                               np.stack(embeddings.column("vector").to_numpy(zero_copy_only=False)), atol=1e-5)
    assert len(set(encoders)) == 2  # one encoder actor per worker node
    print(f"\nencode: actors on nodes {[n[:8] for n in encoders]}, node {loss.node_id[:8]} killed while the "
          f"job ran; SUCCEEDED {encode_stall:.0f} s after the kill\nembed: node {first[0].node_id[:8]} killed "
          f"after the first batch; {len(models)} models embedded {embed_stall:.0f} s after the kill")


SERVE_CLIENTS, SERVE_SECONDS, KILL_AT_S = 8, 30.0, 10.0
RESENDS = 2  # times a client sends a request again (the openai client's max_retries)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_multinode_serve_answers_every_request_with_a_lost_node(cluster, trained_store_template, tmp_path):
    """`locus serve`'s app with two replicas of each deployment, one on each worker node, HAProxy on
    the head (one proxy: every node here is 127.0.0.1, so per-node proxies would share a port); 8
    clients route for 30 s and a worker node is killed 10 s in: no request fails."""
    import ray
    import requests
    from locus.serve.run import serving
    from locus.serve.settings import Autoscaling, ServeSettings
    from ray import serve

    root = tmp_path / "store"
    shutil.copytree(trained_store_template, root)
    two = Autoscaling(min_replicas=2, max_replicas=2)
    settings = ServeSettings(root=str(root), write_token=None, read_token=None, encoder=two, locus=two, ingress=two)
    port = _free_port()
    ray.init(address=cluster.address)
    try:
        serve.start(proxy_location="HeadOnly", http_options={"host": "127.0.0.1", "port": port})
        with serving(settings, port=port) as url:
            deadline = time.monotonic() + 120
            while requests.post(f"{url}/v1/route", json={"query": "warm up"}, timeout=30).status_code != 200:
                assert time.monotonic() < deadline, "the app did not come up"
                time.sleep(1)
            placed = {name: _actor_nodes(cluster, f"ServeReplica:locus:{name}")
                      for name in ("Ingress", "QueryEncoder", "LocusModel")}
            done: list[tuple[float, int | str]] = []
            resent: list[float] = []
            died: list[tuple[float, str]] = []  # answered 500 by Serve's proxy, sent again
            stop = threading.Event()

            def client(i: int) -> None:
                """A client as HTTP/1.1 allows (RFC 9112, 9.3.1): a request on a kept-alive
                connection the server closed before answering is sent once more (HAProxy closes
                idle client connections when Serve reloads it after a replica set change). A
                request that was in flight on an ingress replica when its node died gets a 500
                from Serve's proxy (its RayActorError: Serve cannot know the request is safe to
                repeat), and is sent once more too, as the openai client does with a 5xx."""
                with requests.Session() as session:
                    n = 0
                    while not stop.is_set():
                        n += 1
                        for attempt in range(1 + RESENDS):
                            last = attempt == RESENDS
                            try:
                                reply = session.post(f"{url}/v1/route", json={"query": f"client {i} question {n}"},
                                                     timeout=30)
                                status = reply.status_code
                                # in flight on a replica that died with its node (not our own 500s: those fail)
                                if status == 500 and not last and "internal error (" not in reply.text:
                                    died.append((time.monotonic(), reply.text[:200]))
                                    continue
                                if status != 200:
                                    status = f"{status} {reply.text[:300]}"
                                break
                            except requests.ConnectionError as exc:
                                status = f"{type(exc).__name__}: {exc}"
                                if last or "without response" not in str(exc):
                                    break
                                resent.append(time.monotonic())
                            except requests.RequestException as exc:
                                status = f"{type(exc).__name__}: {exc}"
                                break
                        done.append((time.monotonic(), status))

            clients = [threading.Thread(target=client, args=(i,)) for i in range(SERVE_CLIENTS)]
            start = time.monotonic()
            for c in clients:
                c.start()
            time.sleep(KILL_AT_S)
            loss = lose_a_node(cluster, _actor_nodes(cluster, "ServeReplica:locus:Ingress"))
            time.sleep(max(0.0, start + SERVE_SECONDS - time.monotonic()))
            stop.set()
            for c in clients:
                c.join(60)
    finally:
        ray.shutdown()
    times = [start, *sorted(t for t, _ in done)]
    gaps = np.diff(times)
    failed = [status for _, status in done if status != 200]
    after = [t for t, _ in done if t > loss.at]
    print(f"\nreplicas by node {({k: [n[:8] for n in v] for k, v in placed.items()})}; node {loss.node_id[:8]} "
          f"killed {KILL_AT_S:.0f} s into {SERVE_SECONDS:.0f} s of {SERVE_CLIENTS} clients: {len(done)} requests, "
          f"{len(failed)} failed {sorted(set(map(str, failed)))}, {len(resent)} sent again on a closed kept-alive "
          f"connection ({[round(t - loss.at, 1) for t in resent]} s after the kill); longest gap between completions "
          f"{gaps.max():.2f} s (first answer after the kill {min(after) - loss.at:.2f} s after it)")
    assert all(len(set(nodes)) == 2 for nodes in placed.values())  # one replica of each on each worker node
    if died:
        print(f"{len(died)} answered 500 and sent again ({[round(t - loss.at, 1) for t, _ in died]} s after the "
              f"kill): {sorted({text for _, text in died})}")
    assert not failed
    assert len(resent) + len(died) <= SERVE_CLIENTS  # at most one per client with a request in flight
