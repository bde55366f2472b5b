"""A store of the pre-Delta layout is recognised, refused with the fix, and converted in place."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from locus.cli import app
from locus.errors import LocusDataError
from locus.store import Store


def _old_store(root):
    """The files the old store wrote, with a leftover temporary file of a killed writer."""
    (root / "queries").mkdir(parents=True)
    pq.write_table(pa.table({"query_id": ["a", "b"], "text": ["one?", "two?"]}), root / "queries" / "queries.parquet")
    for model, scores in (("org/m1", [1.0, 0.0]), ("m2", [0.0, 1.0])):
        folder = root / "evaluations" / ("model_id=" + model.replace("/", "%2F"))
        folder.mkdir(parents=True)
        pq.write_table(pa.table({"model_id": [model] * 2, "query_id": ["a", "b"],
                                 "score": pa.array(scores, pa.float32()), "scorer": ["exact"] * 2,
                                 "source": ["x"] * 2}), folder / "data.parquet")
    (root / "evaluations" / "model_id=m3").mkdir()
    (root / "evaluations" / "model_id=m3" / ".tmp-0123.parquet").write_bytes(b"half a file")
    (root / "query_embeddings" / "enc").mkdir(parents=True)
    vectors = pa.FixedSizeListArray.from_arrays(pa.array(np.arange(8, dtype=np.float32)), 4)
    pq.write_table(pa.table({"query_id": ["a", "b"], "encoder": ["org/enc"] * 2, "vector": vectors}),
                   root / "query_embeddings" / "enc" / "part-00000.parquet")
    (root / "models").mkdir()
    pq.write_table(pa.table({"model_id": ["org/m1"], "display_name": ["M1"]}), root / "models" / "models.parquet")
    (root / "model_embeddings").mkdir()
    pq.write_table(pa.table({"model_id": ["m2"], "version": ["v1"],
                             "vector": pa.FixedSizeListArray.from_arrays(pa.array(np.ones(3, np.float32)), 3),
                             "n_evaluations": [2],
                             "updated_at": pa.array([0], pa.timestamp("us", tz="UTC"))}),
                   root / "model_embeddings" / "model_embeddings.parquet")


def test_old_layout_is_refused_then_migrated(tmp_path):
    root = tmp_path / "old"
    _old_store(root)
    with pytest.raises(LocusDataError, match="locus store migrate"):
        Store(root)
    result = CliRunner().invoke(app, ["store", "info", "--root", str(root)])
    assert result.exit_code == 2 and "pre-Delta layout" in result.output

    result = CliRunner().invoke(app, ["store", "migrate", "--root", str(root)])
    assert result.exit_code == 0, result.output
    store = Store(root)
    assert store.model_ids() == ["m2", "org/m1"]
    assert store.read_evaluations(["org/m1"]).column("score").to_pylist() == [1.0, 0.0]
    ids, matrix = store.read_query_embeddings("org/enc")
    assert ids == ["a", "b"] and matrix.tolist() == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert store.read_models().column("display_name").to_pylist() == ["M1"]
    assert store.read_model_embeddings("v1").column("model_id").to_pylist() == ["m2"]
    assert (root / "pre-delta" / "queries" / "queries.parquet").exists()

    again = CliRunner().invoke(app, ["store", "migrate", "--root", str(root)])  # re-runnable, changes nothing
    assert again.exit_code == 0 and Store(root).read_evaluations().num_rows == 4
