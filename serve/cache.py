"""A least-recently-used map from query text to its vector, kept by each ingress replica so that
repeated queries (retries, popular prompts) skip the encoder and its network hop."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np


class VectorCache:
    def __init__(self, size: int) -> None:
        self.size = size
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()

    def lookup(self, texts: list[str]) -> tuple[dict[str, np.ndarray], list[str]]:
        """The cached vectors among `texts` (now the most recently used) and the distinct texts not cached."""
        found: dict[str, np.ndarray] = {}
        missing: list[str] = []
        for text in dict.fromkeys(texts):
            if (vector := self._vectors.get(text)) is not None:
                self._vectors.move_to_end(text)
                found[text] = vector
            else:
                missing.append(text)
        return found, missing

    def put(self, texts: list[str], vectors: np.ndarray) -> None:
        for text, vector in zip(texts, vectors, strict=True):
            self._vectors[text] = vector
        while len(self._vectors) > self.size:
            self._vectors.popitem(last=False)
