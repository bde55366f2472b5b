"""The `locus` command line end to end on a small real slice, and its error handling."""

import pyarrow as pa
import pyarrow.parquet as pq
from typer.testing import CliRunner

from locus.cli import app
from locus.store import Store

runner = CliRunner()


def _invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_import_table_encode_fit_embed(encoded_store, tmp_path):
    root = str(encoded_store.uri)
    result = _invoke("fit", "--root", root, "--max-epochs", "1", "--epoch-episodes", "24", "--dim", "32",
                     "--num-latents", "8")
    assert result.exit_code == 0, result.output
    assert "routing accuracy" in result.output and "registered version" in result.output

    # a newcomer brought as a file of evaluations is stored and embedded without retraining
    queries = Store(root).read_queries().column("query_id").to_pylist()[:40]
    evals = tmp_path / "new.csv"
    evals.write_text("query_id,score\n" + "\n".join(f"{q},{i % 2}" for i, q in enumerate(queries)))
    result = _invoke("embed", "--root", root, "--model", "newcomer", "--evaluations", str(evals))
    assert result.exit_code == 0, result.output
    table = Store(root).read_model_embeddings()
    assert "newcomer" in table.column("model_id").to_pylist()

    result = _invoke("embed", "--root", root)
    assert result.exit_code == 0 and "embedded 30 model(s)" in result.output


def test_import_table_then_encode_only_new_queries(tmp_path):
    root = str(tmp_path / "store")
    queries, evaluations = tmp_path / "q.jsonl", tmp_path / "e.parquet"
    queries.write_text('{"query_id": "a", "text": "What is the capital of France?"}\n'
                       '{"query_id": "b", "text": "Solve 2x + 3 = 7."}\n')
    pq.write_table(pa.table({"model_id": ["m1", "m1", "m2"], "query_id": ["a", "b", "a"],
                             "score": [1.0, 0.0, 0.5]}), evaluations)
    result = _invoke("import", "table", "--queries", str(queries), "--evaluations", str(evaluations), "--root", root)
    assert result.exit_code == 0, result.output
    assert "2 queries (2 new) and 3 evaluations of 2 models" in result.output
    assert "encoded 2 new of 2" in _invoke("encode", "--root", root).output
    queries.write_text(queries.read_text() + '{"query_id": "c", "text": "Name a prime number."}\n')
    _invoke("import", "table", "--queries", str(queries), "--evaluations", str(evaluations), "--root", root)
    assert "encoded 1 new of 3" in _invoke("encode", "--root", root).output


def test_bad_input_exits_with_a_clear_message(tmp_path):
    root = str(tmp_path / "store")
    queries, evaluations = tmp_path / "q.csv", tmp_path / "e.csv"
    queries.write_text("query_id,text\nq1,hello\n")
    evaluations.write_text("model_id,query_id,score\nm,q1,1\nm,q2,0\n")
    result = _invoke("import", "table", "--queries", str(queries), "--evaluations", str(evaluations), "--root", root)
    assert result.exit_code == 2
    assert "query_id" in result.output and "row 1" in result.output
    assert Store(root).read_queries().num_rows == 0  # nothing half-written
    result = _invoke("fit", "--root", root)
    assert result.exit_code == 2 and "no evaluations" in result.output
    result = _invoke("embed", "--root", root)
    assert result.exit_code == 2 and "no trained version" in result.output


def test_help_explains_every_command():
    result = _invoke("--help")
    for command in ("import", "encode", "fit", "embed", "bench", "quickstart"):
        assert command in result.output
    assert "--budget" in _invoke("fit", "--help").output


def test_import_mmlu_pro_and_sample_register_models(tmp_path):
    from tests.importers.test_mmlu_pro import RECORDS, _zip

    root = str(tmp_path / "store")
    path = _zip(tmp_path / "model_outputs_Acme-Mixtral-2x3B_5shots.zip", RECORDS)
    result = _invoke("import", "mmlu-pro", str(path), "--root", root)
    assert result.exit_code == 0 and "3 evaluations of 1 models" in result.output
    result = _invoke("import", "sample", "--root", root)
    assert result.exit_code == 0 and "of 29 models" in result.output
    models = Store(root).read_models().to_pydict()
    row = models["model_id"].index("Acme-Mixtral-2x3B")
    assert models["family"][row] == "mixtral" and models["params_b"][row] == 6.0
    assert len(models["model_id"]) == 30


_NO_RAY = """
import sys
from locus.cli import app
try:
    app(sys.argv[1:])
except SystemExit as exc:
    print(f"exit {exc.code}; ray imported: {'ray' in sys.modules}")
"""


def _listing(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_commands_needing_a_version_fail_before_writing_or_starting_ray(encoded_store, tmp_path):
    """embed (with new evaluations) and serve on a store with no trained version: exit 2 at once,
    the store's files unchanged, and Ray never even imported, let alone started."""
    import subprocess
    import sys

    root = tmp_path / "store"
    before = _listing(root)
    queries = Store(root).read_queries().column("query_id").to_pylist()[:5]
    evals = tmp_path / "new.csv"
    evals.write_text("query_id,score\n" + "\n".join(f"{q},1" for q in queries))
    for command in (["embed", "--model", "x", "--evaluations", str(evals)], ["embed", "--ray"], ["serve"],
                    ["report"], ["portfolio", "--k", "3"]):
        result = subprocess.run([sys.executable, "-c", _NO_RAY, *command, "--root", str(root)], capture_output=True,
                                text=True, timeout=120)
        assert "exit 2; ray imported: False" in result.stdout, (command, result.stdout, result.stderr)
        assert "no trained version" in result.stdout, result.stdout
        assert _listing(root) == before, command


def test_fit_on_an_empty_store_says_so_at_once(tmp_path):
    result = _invoke("fit", "--root", str(tmp_path / "nothing"))
    assert result.exit_code == 2 and "no evaluations to train on" in result.output
    assert not (tmp_path / "nothing").exists()


def test_a_version_records_its_data_and_fit_data_of_trains_on_exactly_that(trained_store):
    import json

    root = str(trained_store.uri)
    result = CliRunner().invoke(app, ["runs", "--root", root, "--json"])
    assert result.exit_code == 0, result.output
    first = json.loads(result.output)[-1]
    recorded = first["snapshot"]["table_versions"]
    assert first["snapshot"]["split"] == "hash" and recorded["evaluations"] is not None
    trained_store.write_queries(pa.table({"query_id": ["later"], "text": ["A question added later?"]}))
    trained_store.write_evaluations(pa.table({"model_id": ["later-model"], "query_id": ["later"], "score": [1.0],
                                              "scorer": ["x"]}))
    result = CliRunner().invoke(app, ["fit", "--root", root, "--data-of", first["version"], "--max-epochs", "1",
                                      "--epoch-episodes", "16", "--dim", "32", "--num-latents", "8"])
    assert result.exit_code == 0, result.output
    again = json.loads(CliRunner().invoke(app, ["runs", "--root", root, "--json"]).output)[-1]
    assert again["version"] != first["version"]
    assert again["snapshot"]["table_versions"] == recorded
    assert again["snapshot"]["models"] == first["snapshot"]["models"]  # later-model is not in that data
    table = CliRunner().invoke(app, ["store", "info", "--root", root, "--json"])
    rows = {t["table"]: t for t in json.loads(table.output)}
    assert rows["evaluations"]["version"] == recorded["evaluations"] + 1
