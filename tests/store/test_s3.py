"""The store on an S3-compatible object store for real: a moto server on 127.0.0.1, and import,
encode, Ray Train, a Ray Data embedding job, Ray Data's Delta reader and concurrent writers
against an s3:// root."""

from __future__ import annotations

import multiprocessing

import pyarrow.fs as pafs
import pytest

from locus.encoders import DEFAULT_ENCODER, encode_store
from locus.importers import import_tables
from locus.store import Store
from tests.conftest import QUICK_TRAIN, SMALL_MODEL, sample_slice
from tests.s3_server import s3_bucket
from tests.store import writers

pytestmark = pytest.mark.slow  # an S3 server, Ray, Ray Train

BUCKET = "locus-test"


@pytest.fixture(scope="module")
def s3_root(tmp_path_factory):
    """A moto S3 server in its own process, the AWS_* variables pointing at it, and a bucket."""
    with pytest.MonkeyPatch.context() as env, s3_bucket(BUCKET, tmp_path_factory.mktemp("moto") / "moto.log") as root:
        env.setenv("RAY_AUTH_MODE", "disabled")
        yield root


def test_import_encode_train_embed_and_ray_data_read_on_s3(s3_root):
    import ray
    from locus.jobs.embed import run_embedding
    from locus.jobs.train import TrainJobConfig, run_training

    root = f"{s3_root}/pipeline"
    store = Store(root)
    queries, evaluations = sample_slice(200)
    import_tables(store, queries, evaluations)
    encode_store(store, DEFAULT_ENCODER)
    assert store.info()[1]["rows"] == evaluations.num_rows

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        job = TrainJobConfig(root=root, train={**QUICK_TRAIN, "max_epochs": 1}, model=SMALL_MODEL,
                             scaling={"workers": 1})
        trained = run_training(job)
        assert trained.run_path.startswith(f"{BUCKET}/pipeline/runs/")
        assert trained.meta.snapshot.table_versions["evaluations"] == store.table("evaluations").version()
        embedded = run_embedding(root, trained.version)
        assert len(embedded.model_ids) == 29
        rows = ray.data.read_delta(store.table_uri("evaluations"), storage_options=store.options).count()
        assert rows == evaluations.num_rows
    finally:
        ray.shutdown()
    assert Store(root).read_model_embeddings(trained.version).num_rows == 29
    assert Store(root).exists("checkpoints", trained.version, "model.pt")


def test_concurrent_writers_on_s3_lose_nothing(s3_root):
    root = f"{s3_root}/concurrent"
    context = multiprocessing.get_context("spawn")
    plan = [("import_disjoint", 0), ("import_disjoint", 1), ("import_overlapping", 2), ("import_overlapping", 3)]
    start = context.Barrier(len(plan))
    processes = [context.Process(target=writers.run, args=(kind, root, i, start)) for kind, i in plan]
    for p in processes:
        p.start()
    for p in processes:
        p.join(timeout=300)
    assert [p.exitcode for p in processes] == [0] * len(plan)
    store = Store(root)
    assert store.read_queries().num_rows == len(writers.SHARED) + 4 * 50
    evaluations = store.read_evaluations()
    assert evaluations.num_rows == 2 * 450 + 2 * 400 + 2 * 50
    keys = list(zip(*(evaluations.column(c).to_pylist() for c in ("model_id", "query_id", "scorer")), strict=True))
    assert len(set(keys)) == len(keys)
    commits = [i for i in store.fs.get_file_info(pafs.FileSelector(store.path("evaluations", "_delta_log")))
               if i.path.endswith(".json")]
    assert len(commits) >= 1 + 4  # the table's creation and one commit per import, in the bucket
