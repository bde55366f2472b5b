"""Text policies: keys, and dropping the few-shot preamble a benchmark's prompts share."""

from __future__ import annotations

import pytest

from locus.errors import LocusDataError
from locus.query_text import encoder_key, prepare_texts, split_key, strip_preambles

PREAMBLE = "The following are multiple choice questions about law.\n\nQ: Is a tort a crime?\nAnswer: B"


def test_keys_name_the_policy_and_refuse_unknown_ones():
    assert split_key("all-MiniLM-L6-v2") == ("all-MiniLM-L6-v2", "question")
    assert split_key("/models/mpnet@tail") == ("/models/mpnet", "tail")
    assert encoder_key("all-MiniLM-L6-v2", "head") == "all-MiniLM-L6-v2@head"
    assert encoder_key("all-MiniLM-L6-v2") == "all-MiniLM-L6-v2"
    with pytest.raises(LocusDataError, match="unknown text policy 'middle'"):
        split_key("all-MiniLM-L6-v2@middle")
    with pytest.raises(LocusDataError, match="no encoder name"):
        split_key("@tail")


def test_a_shared_preamble_is_dropped_per_benchmark_and_the_question_stays():
    texts = [f"{PREAMBLE}\n\nQ: question {i}?\nAnswer:" for i in range(6)]
    texts += ["Q: a short one?\n\nA. yes\nB. no", PREAMBLE]  # no preamble; the preamble alone keeps its end
    benchmarks = ["law"] * 6 + ["law", "law"]
    out = strip_preambles(texts, benchmarks, min_shared=5)
    assert out.texts[:6] == [f"Q: question {i}?\nAnswer:" for i in range(6)]
    assert out.texts[6] == texts[6]
    assert out.texts[7] == "Q: Is a tort a crime?\nAnswer: B"
    assert out.stripped == 7


def test_paragraphs_shared_by_too_few_items_or_across_benchmarks_stay():
    texts = [f"{PREAMBLE}\n\nQ: question {i}?" for i in range(4)]
    assert strip_preambles(texts, ["law"] * 4, min_shared=5).stripped == 0
    assert strip_preambles(texts * 2, ["law"] * 4 + ["math"] * 4, min_shared=5).stripped == 0
    assert strip_preambles(texts * 2, ["law"] * 8, min_shared=5).stripped == 8


def test_head_and_tail_leave_the_text_to_the_encoder():
    texts = [f"{PREAMBLE}\n\nQ: question {i}?" for i in range(6)]
    for policy in ("head", "tail"):
        assert prepare_texts(texts, ["law"] * 6, policy).texts == texts
