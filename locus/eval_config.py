"""The typed evaluation-job config (YAML): which models answer which query sets, how prompts are
built and scored, where results go, and with what resources."""

from __future__ import annotations

import re
import string
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from locus.config_files import read_settings
from locus.scorers import SCORERS
from locus.scorers import ScorerSpec as RegisteredScorer
from locus.store import StorageRoot


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


PROMPT_FIELDS = ("text", "choices", "answer")
_HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")


class ModelSpec(Strict):
    id: str = Field(min_length=1, description="model_id in the store")
    path: str = Field(min_length=1, description="HF model id (org/name) or local folder vLLM loads")
    engine: dict[str, Any] = Field(default_factory=dict,
                                   description="vLLM engine args: tensor_parallel_size, dtype, max_model_len, ...")
    chat_template: bool = Field(False, description="wrap prompts in the tokenizer's chat template")

    @model_validator(mode="after")
    def _path_exists(self) -> ModelSpec:
        local = Path(self.path).expanduser()
        if local.exists():
            if not (local / "config.json").exists():
                raise ValueError(f"model {self.id!r}: {self.path} has no config.json; not a model folder")
        elif self.path.startswith((".", "/", "~")) or not _HUB_ID.match(self.path):
            raise ValueError(f"model {self.id!r}: path {self.path!r} is neither a local folder nor an org/name hub id")
        return self


class ScorerSpec(Strict):
    name: str
    params: dict[str, Any] = Field(default_factory=dict, description="e.g. pattern for regex")
    judge: ModelSpec | None = Field(None, description="the grading model, for the judge scorer")
    judge_prompt: str = ("Grade the response to the question against the reference answer.\n"
                         "Question: {text}\nReference answer: {answer}\nResponse: {output}\n"
                         "Reply with a single integer from 0 (wrong) to 10 (fully correct).\nGrade:")

    @property
    def spec(self) -> RegisteredScorer:
        return SCORERS[self.name]

    @model_validator(mode="after")
    def _known(self) -> ScorerSpec:
        if self.name not in SCORERS:
            raise ValueError(f"unknown scorer {self.name!r}; choose from {', '.join(SCORERS)}")
        if self.spec.needs == "judge" and self.judge is None:
            raise ValueError(f"scorer {self.name!r} needs 'judge': the model (id, path, engine) that grades")
        return self


class BenchmarkSpec(Strict):
    name: str = Field(description="queries whose `benchmark` column equals this")
    prompt: str = Field("{text}\n{choices}\nAnswer:", description="template over text, choices, answer")
    scorer: ScorerSpec
    limit: int | None = Field(None, gt=0, description="first N queries (by id) only")

    @model_validator(mode="after")
    def _template_fields(self) -> BenchmarkSpec:
        try:
            fields = {f for _, f, _, _ in string.Formatter().parse(self.prompt) if f is not None}
        except ValueError as exc:
            raise ValueError(f"benchmark {self.name!r}: prompt template is malformed: {exc}") from exc
        if unknown := sorted(fields - set(PROMPT_FIELDS)):
            raise ValueError(f"benchmark {self.name!r}: prompt uses {{{unknown[0]}}}; templates may use "
                             f"{', '.join('{' + f + '}' for f in PROMPT_FIELDS)}")
        return self


class Resources(Strict):
    engines: int = Field(1, ge=1, description="vLLM engines (Ray Data actors) per model")
    gpus_per_engine: float = Field(0, ge=0, description="0 on CPU; tensor_parallel_size on GPU")
    cpus_per_engine: float = Field(1, gt=0)
    batch_size: int = Field(16, ge=1, description="prompts per vLLM call")
    chunk_size: int = Field(256, ge=1, description="queries generated, scored and written together")
    parallel_models: int = Field(1, ge=1, description="models evaluated side by side")


class EvalConfig(Strict):
    root: StorageRoot
    models: list[ModelSpec] = Field(min_length=1)
    benchmarks: list[BenchmarkSpec] = Field(min_length=1)
    sampling: dict[str, Any] = Field(default_factory=lambda: {"temperature": 0.0, "max_tokens": 256},
                                     description="vLLM SamplingParams")
    resources: Resources = Field(default_factory=Resources)

    @model_validator(mode="after")
    def _unique(self) -> EvalConfig:
        ids = [m.id for m in self.models]
        if len(set(ids)) != len(ids):
            raise ValueError(f"models: duplicate id {next(i for i in ids if ids.count(i) > 1)!r}")
        return self

    @classmethod
    def from_yaml(cls, path: Path) -> EvalConfig:
        return cls.model_validate(read_settings(path))


def probe_spec(config: Path | None, benchmark: str | None = None) -> tuple[BenchmarkSpec, dict[str, Any]]:
    """The benchmark (prompt, scorer) and sampling a model is asked again with, as `config` evaluated
    it (its benchmark `benchmark`, default its first); without a config, the choice scorer and the
    default sampling."""
    from locus.errors import LocusDataError

    if config is None:
        return (BenchmarkSpec(name=benchmark or "", scorer=ScorerSpec(name="choice")),
                EvalConfig.model_fields["sampling"].default_factory())
    evaluation = EvalConfig.from_yaml(config)
    names = [b.name for b in evaluation.benchmarks]
    if benchmark is not None and benchmark not in names:
        raise LocusDataError(f"--benchmark: {benchmark!r} is not in {config} ({', '.join(names)})")
    return evaluation.benchmarks[names.index(benchmark) if benchmark else 0], evaluation.sampling
