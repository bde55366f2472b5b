"""What a query encoder reads of a query: its text policy.

A sentence encoder reads a fixed window of word pieces (256 for all-MiniLM-L6-v2). Leaderboard-style
result tables store each item's whole few-shot prompt, the question last after a preamble that every
item of the benchmark shares, so the window holds the same preamble for all of them and their vectors
nearly coincide. The policy says what goes into the window:

- `question` (the default): the leading paragraphs (blank-line separated) that at least `MIN_SHARED`
  items of the same benchmark start with, in the same order, are a few-shot preamble and are
  dropped; the encoder reads the start of what is left. Texts without one are read as they are.
- `head`: the text as it is, from its start (what sentence-transformers does by itself).
- `tail`: the end of the text: the encoder truncates from the left.

The policy is part of the encoder key: `all-MiniLM-L6-v2` reads with `question`, `all-MiniLM-L6-v2@tail`
with `tail`. The key names the store's query-embedding table and is recorded with every vector and in
every version, so vectors of two policies never mix. A single routed text has no benchmark to compare
with: `question` and `head` read its start, `tail` its end.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from locus.errors import LocusDataError

TextPolicy = Literal["question", "head", "tail"]
POLICIES: tuple[str, ...] = get_args(TextPolicy)
DEFAULT_POLICY: TextPolicy = "question"
MIN_SHARED = 5  # items of one benchmark that must share a leading paragraph for it to count as preamble
PARAGRAPH = "\n\n"


def split_key(key: str) -> tuple[str, TextPolicy]:
    """`name@policy` -> (name, policy); a key without a known policy suffix reads with the default."""
    name, sep, policy = key.rpartition("@")
    if not sep:
        return key, DEFAULT_POLICY
    if policy not in POLICIES:
        raise LocusDataError(f"encoder {key!r}: unknown text policy {policy!r} (one of {', '.join(POLICIES)})")
    if not name:
        raise LocusDataError(f"encoder {key!r}: no encoder name before '@'")
    return name, policy  # type: ignore[return-value]


def encoder_key(name: str, policy: TextPolicy = DEFAULT_POLICY) -> str:
    """The key of `name` read with `policy` (the bare name for the default policy)."""
    return name if policy == DEFAULT_POLICY else f"{name}@{policy}"


@dataclass
class PreparedTexts:
    texts: list[str]
    stripped: int  # texts whose shared preamble was dropped


def strip_preambles(texts: Sequence[str], benchmarks: Sequence[str | None], *,
                    min_shared: int = MIN_SHARED) -> PreparedTexts:
    """Drop the longest run of leading paragraphs that at least `min_shared` texts of the same
    benchmark start with, in the same order (a shared few-shot preamble). The last paragraph always
    stays, and so does a question that happens to be one of the preamble's examples."""
    paragraphs = [t.split(PARAGRAPH) for t in texts]
    node: dict[tuple, int] = {}  # (parent, paragraph) -> prefix id: a trie of each benchmark's prefixes
    counts: Counter = Counter()
    walks = []
    for parts, benchmark in zip(paragraphs, benchmarks, strict=True):
        walk, parent = [], ("benchmark", benchmark)
        for part in parts[:-1]:
            parent = node.setdefault((parent, part), len(node))
            walk.append(parent)
        counts.update(walk)
        walks.append(walk)
    out, stripped = [], 0
    for text, parts, walk in zip(texts, paragraphs, walks, strict=True):
        lead = sum(counts[prefix] >= min_shared for prefix in walk)  # counts only fall along a walk
        out.append(PARAGRAPH.join(parts[lead:]) if lead else text)
        stripped += lead > 0
    return PreparedTexts(out, stripped)


def prepare_texts(texts: Sequence[str], benchmarks: Sequence[str | None], policy: TextPolicy) -> PreparedTexts:
    """The texts the encoder reads under `policy` (`head` and `tail` read the text itself; the
    encoder's truncation side makes the difference)."""
    if policy == "question":
        return strip_preambles(texts, benchmarks)
    return PreparedTexts(list(texts), 0)
