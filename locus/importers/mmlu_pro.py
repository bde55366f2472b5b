"""Importer for the MMLU-Pro authors' published outputs (zip of one JSON list of records).

Each zip is one model: `model_outputs_<MODEL>_5shots.zip`. A record scores 1 when its `pred`
equals the gold `answer` (a null pred scores 0); a question absent from a file stays missing.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
from tqdm.auto import tqdm

from locus.errors import LocusDataError

BENCHMARK = "mmlu-pro"
SCORER = "mmlu-pro-pred"
LETTERS = "ABCDEFGHIJKLMNOP"
_NAME = re.compile(r"^model_outputs_(?P<model>.+?)(?:_\d+shots?)?\.zip$")


def query_id(question_id: int | str) -> str:
    """`mmlu-pro-` + question_id zero-padded to 5 digits, so sorted ids follow question_id."""
    return f"{BENCHMARK}-{int(question_id):05d}"


def query_text(question: str, options: list[str]) -> str:
    """The question followed by its lettered options, as the models saw them."""
    lines = [question.strip(), ""] + [f"{LETTERS[i]}. {opt}" for i, opt in enumerate(options)]
    return "\n".join(lines)


def model_name(path: Path) -> str:
    match = _NAME.match(path.name)
    if not match:
        raise LocusDataError(f"{path}: expected a file named model_outputs_<MODEL>_5shots.zip")
    return match.group("model")


def _records(path: Path) -> list[dict]:
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.endswith(".json")]
            if len(names) != 1:
                raise LocusDataError(f"{path}: expected one .json file in the zip, found {names}")
            records = json.loads(archive.read(names[0]))
    except zipfile.BadZipFile as exc:
        raise LocusDataError(f"{path}: not a zip file ({exc})") from exc
    if not isinstance(records, list):
        raise LocusDataError(f"{path}: expected a JSON list of records")
    return [r for r in records if isinstance(r, dict)]  # some files carry stray strings


def read_mmlu_pro(paths: Iterable[str | Path], *, progress: bool = True) -> tuple[pa.Table, pa.Table]:
    """Read output zips into (queries, evaluations) tables."""
    paths = list(paths)
    if not paths:
        raise LocusDataError("no MMLU-Pro output files given (model_outputs_*.zip)")
    queries: dict[str, dict] = {}
    rows: dict[str, list] = {"model_id": [], "query_id": [], "score": [], "scorer": [], "source": []}
    for path in tqdm([Path(p) for p in paths], desc="mmlu-pro files", disable=not progress):
        model = model_name(path)
        for i, record in enumerate(_records(path)):
            try:
                qid = query_id(record["question_id"])
                gold = record["answer"]
                if qid not in queries:
                    queries[qid] = {
                        "query_id": qid, "text": query_text(record["question"], list(record["options"])),
                        "benchmark": BENCHMARK, "answer": gold, "choices": list(record["options"]),
                        "metadata": json.dumps({"category": record.get("category"), "src": record.get("src")}),
                    }
            except (KeyError, TypeError, ValueError) as exc:
                raise LocusDataError(f"{path}: record {i} lacks a valid field {exc}") from exc
            rows["model_id"].append(model)
            rows["query_id"].append(qid)
            rows["score"].append(1.0 if record.get("pred") is not None and record["pred"] == gold else 0.0)
            rows["scorer"].append(SCORER)
            rows["source"].append(path.name)
    query_table = pa.Table.from_pylist(sorted(queries.values(), key=lambda q: q["query_id"]))
    evaluations = pa.table({**rows, "score": pa.array(rows["score"], pa.float32())})
    return query_table, evaluations
