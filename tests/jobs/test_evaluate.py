"""The evaluation job for real: vLLM (CPU build) on tiny random Llamas built locally, local Ray, the
store out. (A job killed mid-way and run again: tests/jobs/test_onboard.py, where the onboarding
command runs it; the multi-node tests lose an engine's node.)"""

from __future__ import annotations

from pathlib import Path

import pyarrow.compute as pc
import pytest
import yaml
from locus.jobs.evaluate import run_evaluation
from typer.testing import CliRunner

from locus import schemas
from locus.cli import app
from locus.errors import LocusDataError
from locus.eval_config import EvalConfig
from locus.store import Store
from tests.conftest import sample_slice
from tests.jobs.tiny_llm import build_tiny_llama

pytestmark = pytest.mark.slow  # starts Ray (and vLLM, Serve or a training run)

N = 6  # queries per benchmark


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("models")
    return [build_tiny_llama(folder / f"tiny-{i}", seed=i) for i in range(2)]


@pytest.fixture
def eval_store(tmp_path) -> Store:
    store = Store(tmp_path / "store")
    queries, _ = sample_slice(N)
    store.write_queries(queries)
    return store


def _config(store: Store, models: list[Path], benchmarks: list[dict]) -> dict:
    engine = {"dtype": "float32", "max_model_len": 1024, "enforce_eager": True}
    return {"root": str(store.uri), "models": [{"id": f"tiny-{i}", "path": str(p), "engine": engine}
                                                for i, p in enumerate(models)],
            "benchmarks": benchmarks, "sampling": {"temperature": 0.0, "max_tokens": 8},
            "resources": {"engines": 1, "cpus_per_engine": 1, "batch_size": 4, "chunk_size": 2}}


def test_a_model_answers_and_three_scorers_score_and_store(eval_store, tiny_models):
    """One model under three scorers."""
    benchmarks = [{"name": "mmlu-pro", "prompt": "{text}\nAnswer: the answer is (", "scorer": {"name": "choice"}},
                  {"name": "mmlu-pro", "prompt": "{text}\nAnswer:", "scorer": {"name": "loglik"}},
                  {"name": "mmlu-pro", "prompt": "{text}\nAnswer:", "scorer": {
                      "name": "judge", "judge": {"id": "judge", "path": str(tiny_models[1]),
                                                 "engine": {"dtype": "float32", "max_model_len": 1024,
                                                            "enforce_eager": True}}}}]
    reports = run_evaluation(EvalConfig.model_validate(_config(eval_store, tiny_models[:1], benchmarks)))
    assert [r.generated for r in reports] == [{"mmlu-pro:choice": N, "mmlu-pro:loglik": N, "mmlu-pro:judge": N}]
    evaluations = eval_store.read_evaluations()
    assert evaluations.schema.equals(schemas.EVALUATIONS)
    assert evaluations.num_rows == 3 * N  # scorers x queries
    keys = {(m, q, s) for m, q, s in zip(*(evaluations.column(c).to_pylist() for c in
                                          ("model_id", "query_id", "scorer")), strict=True)}
    assert len(keys) == evaluations.num_rows
    by_scorer = {s: evaluations.filter(pc.equal(evaluations.column("scorer"), s))
                 for s in ("choice", "loglik", "judge")}
    for s in ("choice", "loglik"):
        assert set(by_scorer[s].column("score").to_pylist()) <= {0.0, 1.0}
    assert all(0.0 <= x <= 1.0 for x in by_scorer["judge"].column("score").to_pylist())
    generations = eval_store.read_generations()
    assert generations.schema.equals(schemas.GENERATIONS)
    assert generations.num_rows == N  # one generation per (model, query): the last scorer's run upserts it
    assert all(g.startswith("vllm-") for g in generations.column("engine").to_pylist())
    assert min(generations.column("prompt_tokens").to_pylist()) > 0

    again = run_evaluation(EvalConfig.model_validate(_config(eval_store, tiny_models[:1], benchmarks)))
    assert all(sum(r.generated.values()) == 0 for r in again)  # nothing missing: no engine work


def test_config_errors_name_the_field(eval_store, tiny_models, tmp_path):
    bad = _config(eval_store, tiny_models, [{"name": "mmlu-pro", "scorer": {"name": "vibes"}}])
    with pytest.raises(ValueError, match="unknown scorer 'vibes'"):
        EvalConfig.model_validate(bad)
    missing = _config(eval_store, tiny_models, [{"name": "no-such-benchmark", "scorer": {"name": "choice"}}])
    with pytest.raises(LocusDataError, match="no-such-benchmark"):
        run_evaluation(EvalConfig.model_validate(missing))
    judge = _config(eval_store, tiny_models, [{"name": "mmlu-pro", "scorer": {"name": "judge"}}])
    with pytest.raises(ValueError, match="needs 'judge'"):
        EvalConfig.model_validate(judge)
    template = _config(eval_store, tiny_models, [{"name": "mmlu-pro", "prompt": "{question}?",
                                                  "scorer": {"name": "choice"}}])
    with pytest.raises(ValueError, match="prompt uses {question}"):
        EvalConfig.model_validate(template)
    nowhere = _config(eval_store, [tmp_path / "no-such-model"], [{"name": "mmlu-pro", "scorer": {"name": "choice"}}])
    with pytest.raises(ValueError, match="neither a local folder"):
        EvalConfig.model_validate(nowhere)
    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump(template))
    result = CliRunner().invoke(app, ["eval", "run", str(config)])
    assert result.exit_code == 2 and "{question}" in result.output  # before any engine starts
