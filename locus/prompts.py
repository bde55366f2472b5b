"""Prompts from a benchmark's template: the evaluation job builds them for vLLM, the drift check for a
served model's API; both call this, so a model re-asked is asked the same thing."""

from __future__ import annotations

import pyarrow as pa


def build_prompts(queries: pa.Table, template: str) -> list[str]:
    """Fill the template's {text}, {choices} ("(A) ..." lines) and {answer} for every query."""
    texts = queries.column("text").to_pylist()
    choices = queries.column("choices").to_pylist()
    answers = queries.column("answer").to_pylist()
    prompts = []
    for text, options, answer in zip(texts, choices, answers, strict=True):
        listed = "\n".join(f"({chr(65 + i)}) {c}" for i, c in enumerate(options or []))
        prompts.append(template.format(text=text, choices=listed, answer=answer or ""))
    return prompts
