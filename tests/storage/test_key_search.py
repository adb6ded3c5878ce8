"""SortedKeys finds exactly what a dict of the keys finds, over the whole uint64 range and skewed key sets."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from dolphin.storage.key_search import SortedKeys

uint64 = st.integers(0, 2**64 - 1)


@given(st.lists(uint64, max_size=300, unique=True), st.lists(uint64, max_size=100),
       st.sampled_from([0, 1, 7, 2**32, 2**63]))
def test_positions_equal_a_dict(keys: list[int], others: list[int], cluster: int) -> None:
    keys = sorted({(k >> 40) + cluster for k in keys if (k >> 40) + cluster < 2**64} | set(keys))  # some dense runs
    index = SortedKeys(np.array(keys, dtype=np.uint64))
    where = {k: i for i, k in enumerate(keys)}
    queries = keys[::3] + others
    found = index.positions(np.array(queries, dtype=np.uint64))
    assert found.tolist() == [where.get(q, -1) for q in queries]


def test_large_random_index() -> None:
    rng = np.random.default_rng(1)
    keys = np.unique(rng.integers(0, 2**63, 200_000, dtype=np.int64).astype(np.uint64))
    index = SortedKeys(keys)
    queries = np.concatenate([rng.choice(keys, 5000), rng.integers(0, 2**63, 5000, dtype=np.int64).astype(np.uint64)])
    expected = np.searchsorted(keys, queries)
    expected = np.where((expected < len(keys)) & (keys[np.minimum(expected, len(keys) - 1)] == queries), expected, -1)
    assert np.array_equal(index.positions(queries), expected)
    assert np.array_equal(SortedKeys(keys[:0]).positions(queries[:3]), [-1, -1, -1])


@given(st.lists(st.integers(0, 2**32 - 1), max_size=300, unique=True),
       st.lists(st.integers(-(2**40), 2**40), max_size=100))
def test_uint32_keys_take_any_integer_queries(keys: list[int], others: list[int]) -> None:
    """The vector IDs are uint32; queries of another type outside its range are simply absent."""
    keys = sorted(keys)
    index = SortedKeys(np.array(keys, dtype=np.uint32))
    where = {k: i for i, k in enumerate(keys)}
    queries = keys[::2] + others
    assert index.positions(np.array(queries, dtype=np.int64)).tolist() == [where.get(q, -1) for q in queries]
    inside = [q for q in queries if 0 <= q < 2**32]
    assert index.positions(np.array(inside, dtype=np.uint32)).tolist() == [where.get(q, -1) for q in inside]
