"""The ingress's query-vector cache: hits, misses in first-seen order, and eviction of the least
recently used."""

from __future__ import annotations

import numpy as np
from locus.serve.cache import VectorCache


def test_lookup_returns_hits_and_the_distinct_misses_in_order():
    cache = VectorCache(10)
    cache.put(["a"], np.ones((1, 3)))
    found, missing = cache.lookup(["b", "a", "c", "b"])
    assert list(found) == ["a"] and np.array_equal(found["a"], np.ones(3))
    assert missing == ["b", "c"]


def test_the_least_recently_used_is_evicted_first():
    cache = VectorCache(2)
    cache.put(["a", "b"], np.eye(2))
    cache.lookup(["a"])  # a is now more recent than b
    cache.put(["c"], np.zeros((1, 2)))
    found, missing = cache.lookup(["a", "b", "c"])
    assert sorted(found) == ["a", "c"] and missing == ["b"]


def test_size_zero_keeps_nothing():
    cache = VectorCache(0)
    cache.put(["a"], np.ones((1, 2)))
    assert cache.lookup(["a"]) == ({}, ["a"])
