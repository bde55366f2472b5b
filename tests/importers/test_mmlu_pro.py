import json
import zipfile

import pytest

from locus.errors import LocusDataError
from locus.importers.mmlu_pro import query_id, query_text, read_mmlu_pro

RECORDS = [
    {"question_id": 70, "question": "Typical advertising regulatory bodies suggest adverts must not: ...",
     "options": ["Safe practices, Fear", "Unsafe practices, Distress"], "answer": "B", "answer_index": 1,
     "cot_content": "", "category": "business", "src": "ori_mmlu-business_ethics", "pred": "B",
     "generated_text": "... the answer is (B)"},
    {"question_id": 71, "question": "Which is prime?", "options": ["4", "6", "7"], "answer": "C", "answer_index": 2,
     "cot_content": "", "category": "math", "src": "x", "pred": "A", "generated_text": "the answer is (A)"},
    {"question_id": 1203, "question": "Pick one.", "options": ["x", "y"], "answer": "A", "answer_index": 0,
     "cot_content": "", "category": "other", "src": "x", "pred": None, "generated_text": "I am not sure"},
]


def _zip(path, records):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(path.name.replace(".zip", ".json"), json.dumps(records))
    return path


def test_scores_ids_and_missing_records(tmp_path):
    full = _zip(tmp_path / "model_outputs_Model-A_5shots.zip", RECORDS)
    partial = _zip(tmp_path / "model_outputs_Model-B_5shots.zip", [RECORDS[0], "stray string entry"])
    queries, evaluations = read_mmlu_pro([full, partial], progress=False)
    assert queries.column("query_id").to_pylist() == ["mmlu-pro-00070", "mmlu-pro-00071", "mmlu-pro-01203"]
    assert queries.column("text").to_pylist()[1] == "Which is prime?\n\nA. 4\nB. 6\nC. 7"
    rows = sorted(zip(*(evaluations.column(c).to_pylist() for c in ("model_id", "query_id", "score")), strict=True))
    assert rows == [("Model-A", "mmlu-pro-00070", 1.0), ("Model-A", "mmlu-pro-00071", 0.0),
                    ("Model-A", "mmlu-pro-01203", 0.0),  # null pred scores 0
                    ("Model-B", "mmlu-pro-00070", 1.0)]  # absent records stay missing


def test_bad_files_are_named(tmp_path):
    bad_name = _zip(tmp_path / "outputs.zip", RECORDS)
    with pytest.raises(LocusDataError, match="model_outputs_<MODEL>"):
        read_mmlu_pro([bad_name], progress=False)
    not_zip = tmp_path / "model_outputs_X_5shots.zip"
    not_zip.write_text("hello")
    with pytest.raises(LocusDataError, match="not a zip"):
        read_mmlu_pro([not_zip], progress=False)


def test_helpers():
    assert query_id("7") == "mmlu-pro-00007"
    assert query_text(" Q ", ["a"]) == "Q\n\nA. a"
