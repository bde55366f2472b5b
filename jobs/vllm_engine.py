"""A vLLM engine as a Ray Data actor: generates answers, scores multiple-choice options by prompt
log-likelihood, or grades answers as a judge, over batches of prompts."""

from __future__ import annotations

import os
import re
from typing import Any

import numpy as np

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_GRADE = re.compile(r"\d+")
_OPTION = re.compile(r"^[A-Z][.)] ", re.MULTILINE)  # "A. ..." option lines, when choices are in the text


def engine_name() -> str:
    import vllm

    return f"vllm-{vllm.__version__}"


class VLLMEngine:
    """Holds one `vllm.LLM`. As the answering model it generates each row whose `mode` is
    "generate" and scores the choices of each "loglik" row; as the judge it grades "judge" rows."""

    def __init__(self, *, path: str, engine: dict[str, Any], sampling: dict[str, Any], chat_template: bool = False,
                 judge_prompt: str | None = None) -> None:
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB; the CPU build's default asks for more
        from vllm import LLM, SamplingParams

        self.llm = LLM(model=path, **engine)
        self.tokenizer = self.llm.get_tokenizer()
        self.context = self.llm.llm_engine.model_config.max_model_len
        self.chat_template, self.judge_prompt = chat_template, judge_prompt
        self.sampling = SamplingParams(**sampling)
        self.scoring = SamplingParams(max_tokens=1, prompt_logprobs=0, temperature=0.0)
        self.grading = SamplingParams(max_tokens=4, temperature=0.0)

    def _fit(self, text: str, max_tokens: int) -> dict:
        """The prompt as token ids; one longer than the context keeps its end (the cue to answer)."""
        ids = self.tokenizer(text)["input_ids"]
        return {"prompt_token_ids": ids[-(self.context - max_tokens - 1):]}

    def _generate(self, prompts: list[str], params) -> list:
        if self.chat_template:
            return self.llm.chat([[{"role": "user", "content": p}] for p in prompts], params, use_tqdm=False)
        return self.llm.generate([self._fit(p, params.max_tokens) for p in prompts], params, use_tqdm=False)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        modes = batch["mode"]
        if self.judge_prompt is not None:
            return self._judge(batch, np.flatnonzero(modes == "judge"))
        n = len(modes)
        batch["output"] = np.full(n, None, dtype=object)
        batch["prompt_tokens"] = np.zeros(n, dtype=np.int64)
        batch["output_tokens"] = np.zeros(n, dtype=np.int64)
        self._answer(batch, np.flatnonzero(modes != "loglik"))
        self._loglik(batch, np.flatnonzero(modes == "loglik"))
        return batch

    def _answer(self, batch: dict[str, np.ndarray], rows: np.ndarray) -> None:
        if not len(rows):
            return
        for row, out in zip(rows, self._generate([batch["prompt"][r] for r in rows], self.sampling), strict=True):
            batch["output"][row] = out.outputs[0].text
            batch["prompt_tokens"][row] = len(out.prompt_token_ids)
            batch["output_tokens"][row] = len(out.outputs[0].token_ids)

    def _loglik(self, batch: dict[str, np.ndarray], rows: np.ndarray) -> None:
        """Answer = the choice letter whose continuation " X" has the highest log-probability."""
        if not len(rows):
            return
        requests, owners = [], []
        for row in rows:
            prompt, choices = batch["prompt"][row], batch["choices"][row]
            base = len(self.tokenizer(prompt)["input_ids"])
            batch["prompt_tokens"][row] = base
            count = len(choices) if choices is not None and len(choices) else len(_OPTION.findall(batch["text"][row]))
            for letter in LETTERS[:max(1, count)]:
                request = self._fit(f"{prompt} {letter}", 1)
                full = len(self.tokenizer(f"{prompt} {letter}")["input_ids"])
                requests.append(request)
                owners.append((row, letter, max(1, full - base)))  # tokens of the continuation
        best: dict[int, tuple[float, str]] = {}
        for (row, letter, tail), out in zip(owners, self.llm.generate(requests, self.scoring, use_tqdm=False),
                                            strict=True):
            pairs = zip(out.prompt_logprobs[-tail:], out.prompt_token_ids[-tail:], strict=True)
            total = sum(lp[t].logprob for lp, t in pairs if lp is not None)
            if row not in best or total > best[row][0]:
                best[row] = (total, letter)
        for row, (_, letter) in best.items():
            batch["output"][row] = letter

    def _judge(self, batch: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
        """Continuous score = the judge's 0-10 grade / 10 (0 when it gives no number)."""
        batch["judge_score"] = np.full(len(batch["mode"]), np.nan, dtype=np.float32)
        prompts = [self.judge_prompt.format(text=batch["text"][r], answer=batch["answer"][r] or "",
                                            output=batch["output"][r]) for r in rows]
        for row, out in zip(rows, self._generate(prompts, self.grading) if prompts else [], strict=True):
            found = _GRADE.search(out.outputs[0].text)
            batch["judge_score"][row] = min(10, int(found.group())) / 10 if found else 0.0
        return batch
