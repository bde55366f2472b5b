import numpy as np
import pyarrow as pa
import pytest
from deltalake import DeltaTable

from locus import schemas
from locus.errors import LocusDataError
from locus.store import Store
from tests.conftest import sample_slice


def _queries(ids):
    return pa.table({"query_id": ids, "text": [f"question {i}" for i in ids]})


def _evals(rows):
    model, query, score = zip(*rows, strict=True)
    return pa.table({"model_id": list(model), "query_id": list(query), "score": pa.array(score, pa.float32()),
                     "scorer": ["exact"] * len(rows)})


def test_round_trip_keeps_schema_in_delta_tables(store):
    queries, evaluations = sample_slice(50)
    store.write_queries(queries)
    store.write_evaluations(evaluations)
    assert store.read_queries().schema == schemas.QUERIES
    assert store.read_queries().num_rows == 50
    back = store.read_evaluations()
    assert back.schema == schemas.EVALUATIONS
    assert back.num_rows == evaluations.num_rows
    assert len(store.model_ids()) == 29
    assert DeltaTable(store.path("evaluations")).metadata().partition_columns == ["model_bucket"]
    assert {t["table"]: t["rows"] for t in store.info()}["evaluations"] == evaluations.num_rows


def test_reimport_upserts_without_duplicates(store):
    store.write_queries(_queries(["a", "b"]))
    store.write_evaluations(_evals([("m/1", "a", 1.0), ("m/1", "b", 0.0)]))
    store.write_evaluations(_evals([("m/1", "b", 1.0)]))
    table = store.read_evaluations(["m/1"]).to_pydict()
    assert sorted(zip(table["query_id"], table["score"], strict=True)) == [("a", 1.0), ("b", 1.0)]
    assert store.model_ids() == ["m/1"]  # ids with '/' survive the partition path


def test_failed_validation_leaves_every_table_version_unchanged(store):
    store.write_queries(_queries(["a"]))
    store.write_evaluations(_evals([("m1", "a", 1.0)]))
    store.append_query_embeddings("enc", ["a"], np.ones((1, 4), np.float32))
    store.write_model_embeddings("v1", ["m1"], np.ones((1, 8), np.float32), [1])
    before, rows = store.table_versions(), store.read_evaluations()
    with pytest.raises(LocusDataError, match="score"):
        store.write_evaluations(_evals([("m2", "a", 1.0), ("m1", "a", 7.0)]))
    with pytest.raises(LocusDataError, match="not a known query"):
        store.write_evaluations(_evals([("m2", "nope", 1.0)]))
    with pytest.raises(LocusDataError, match="text"):
        store.write_queries(pa.table({"query_id": ["b", "c"], "text": ["fine", " "]}))
    with pytest.raises(LocusDataError, match="duplicate"):
        store.write_models(pa.table({"model_id": ["m1", "m1"]}))
    with pytest.raises(LocusDataError, match="4-d"):
        store.append_query_embeddings("enc", ["b"], np.ones((1, 5), np.float32))
    with pytest.raises(LocusDataError, match="not finite"):
        store.write_model_embeddings("v1", ["m2"], np.full((1, 8), np.nan, np.float32), [1])
    assert store.table_versions() == before
    assert store.read_evaluations().equals(rows)


def test_time_travel_reads_a_table_as_it_was(store):
    store.write_queries(_queries(["a"]))
    pinned = store.at(store.table_versions())
    store.write_queries(_queries(["b"]))
    assert pinned.read_queries().column("query_id").to_pylist() == ["a"]
    assert store.read_queries().num_rows == 2
    with pytest.raises(LocusDataError, match="read-only"):
        pinned.write_queries(_queries(["c"]))


def test_compact_merges_small_files_and_keeps_rows(store):
    store.write_queries(_queries([f"q{i}" for i in range(20)]))
    for i in range(12):
        store.write_evaluations(_evals([(f"m{i % 3}", f"q{i}", 1.0)]))
        store.append_query_embeddings("enc", [f"q{i}"], np.full((1, 4), i, np.float32))
    before = {t["table"]: t for t in store.info()}
    report = {r["table"]: r for r in store.compact()}
    after = {t["table"]: t for t in store.info()}
    assert report["query_embeddings/enc"]["files_before"] == 12 and report["query_embeddings/enc"]["files_after"] == 1
    assert after["evaluations"]["files"] < before["evaluations"]["files"]
    assert {k: v["rows"] for k, v in after.items()} == {k: v["rows"] for k, v in before.items()}
    ids, matrix = store.read_query_embeddings("enc")
    assert ids == sorted(f"q{i}" for i in range(12)) and matrix[ids.index("q7")].tolist() == [7.0] * 4


def test_uri_root_works_like_a_path(tmp_path):
    store = Store(f"file://{tmp_path}/uri-store")
    store.write_queries(_queries(["a"]))
    assert Store(tmp_path / "uri-store").read_queries().num_rows == 1


def test_roots_that_cannot_hold_tables_are_refused_by_name():
    with pytest.raises(LocusDataError, match="memory://"):
        Store("memory://locus-test/store")
    with pytest.raises(LocusDataError, match="nosuchprotocol://"):
        Store("nosuchprotocol://bucket/x")


def test_query_embeddings_append_once_and_reject_wrong_dimension(store):
    assert store.append_query_embeddings("enc", ["a", "b"], np.ones((2, 4), np.float32)) == 2
    assert store.append_query_embeddings("enc", ["c", "a"], np.zeros((2, 4), np.float32)) == 1  # 'a' is kept
    ids, matrix = store.read_query_embeddings("enc")
    assert ids == ["a", "b", "c"] and matrix.shape == (3, 4) and matrix[0].tolist() == [1.0] * 4
    with pytest.raises(LocusDataError, match="4-d"):
        store.append_query_embeddings("enc", ["d"], np.zeros((1, 5), np.float32))


def test_model_embeddings_reject_wrong_dimension(store):
    store.write_model_embeddings("v1", ["m1"], np.ones((1, 8), np.float32), [10])
    with pytest.raises(LocusDataError, match="8-d"):
        store.write_model_embeddings("v1", ["m2"], np.ones((1, 6), np.float32), [10])
    store.write_model_embeddings("v1", ["m1"], np.zeros((1, 8), np.float32), [12])
    table = store.read_model_embeddings("v1")
    assert table.num_rows == 1 and table.column("n_evaluations").to_pylist() == [12]


def test_a_failing_import_command_leaves_every_table_version_unchanged(store, tmp_path):
    from typer.testing import CliRunner

    from locus.cli import app

    store.write_queries(_queries(["a"]))
    store.write_evaluations(_evals([("m1", "a", 1.0)]))
    before = store.table_versions()
    (tmp_path / "q.csv").write_text("query_id,text\nb,a new question?\n")
    (tmp_path / "e.csv").write_text("model_id,query_id,score\nm2,b,1\nm2,a,1.5\n")
    result = CliRunner().invoke(app, ["import", "table", "--queries", str(tmp_path / "q.csv"),
                                      "--evaluations", str(tmp_path / "e.csv"), "--root", store.uri])
    assert result.exit_code == 2 and "score" in result.output
    assert Store(store.uri).table_versions() == before


def test_a_table_written_before_a_column_existed_reads_it_as_nulls_and_gains_it_on_write(tmp_path):
    from locus.store.table import Table

    before = pa.schema([f for f in schemas.MODELS if f.name != "served_name"])  # the models table of older stores
    Table(str(tmp_path / "store" / "models"), before, name="models").merge(
        schemas.conform(pa.table({"model_id": ["a", "b"], "served_at": ["http://a:8000/v1", None]}), before,
                        name="models"), keys=["model_id"])
    store = Store(tmp_path / "store")
    assert store.read_models().schema == schemas.MODELS
    assert store.read_models().column("served_name").to_pylist() == [None, None]
    store.write_models(pa.table({"model_id": ["a"], "served_at": ["http://a:8000/v1"], "served_name": ["alpha"]}))
    rows = {r["model_id"]: r for r in store.read_models().to_pylist()}
    assert rows["a"]["served_name"] == "alpha" and rows["b"]["served_name"] is None
    assert "served_name" in DeltaTable(str(tmp_path / "store" / "models")).schema().to_arrow().names
