"""Bit-sliced index arithmetic against NumPy over the same values: comparisons, sums, extremes, ranks, top-k."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from pyroaring import BitMap, FrozenBitMap

from dolphin.engine.bsi import Field, ranks_of
from dolphin.storage import DimensionKind
from dolphin.storage.numbers import MAX_MAGNITUDE, slice_bitmaps

USERS = 400

magnitudes = st.sampled_from([3, 100, 70_000, 2**40, MAX_MAGNITUDE])


@st.composite
def fields(draw: st.DrawFn) -> tuple[Field, dict[int, int], BitMap]:
    """A field over USERS dense IDs: some without a value, signed values, and a random `within` subset."""
    top = draw(magnitudes)
    signed = draw(st.booleans())
    has = draw(st.lists(st.booleans(), min_size=USERS, max_size=USERS))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    low = -top if signed else 0
    values = rng.integers(low, top, size=USERS, endpoint=True, dtype=np.int64)
    values[rng.random(USERS) < 0.2] = rng.integers(low, top, endpoint=True)  # ties
    values[rng.random(USERS) < 0.05] = 0
    ids = np.flatnonzero(has).astype(np.uint32)
    slices = {k: FrozenBitMap(v) for k, v in slice_bitmaps(ids, values[ids]).items()}
    field = Field.of("f", DimensionKind.INTEGER, slices)
    within = BitMap(ids[rng.random(len(ids)) < draw(st.sampled_from([1.0, 0.5, 0.05]))].tolist())
    return field, {int(i): int(values[i]) for i in ids}, within


def _values(truth: dict[int, int], within: BitMap) -> list[int]:
    return [truth[u] for u in within]


@settings(max_examples=150)
@given(fields(), st.integers(-(2**63) + 1, 2**63 - 1), st.integers(-300, 300))
def test_comparisons(sample: tuple[Field, dict[int, int], BitMap], big: int, small: int) -> None:
    field, truth, within = sample
    for c in (big, small, 0, 1, -1, *list(truth.values())[:3]):
        assert set(field.less_than(within, c)) == {u for u in within if truth[u] < c}
        assert field.count_less_than(within, c) == sum(truth[u] < c for u in within)
        assert set(field.equal_to(within, c)) == {u for u in within if truth[u] == c}


@settings(max_examples=150)
@given(fields())
def test_aggregates(sample: tuple[Field, dict[int, int], BitMap]) -> None:
    field, truth, within = sample
    values = _values(truth, within)
    assert field.total(within) == sum(values)
    assert field.sum_of_squares(within) == sum(v * v for v in values)
    if values:
        assert field.minimum(within) == min(values) and field.maximum(within) == max(values)
        ordered = sorted(values)
        for rank in {0, len(values) // 2, len(values) - 1}:
            assert field.kth(within, rank) == ordered[rank]


@settings(max_examples=150)
@given(fields(), st.integers(0, USERS + 5), st.booleans())
def test_top_k_and_decoding(sample: tuple[Field, dict[int, int], BitMap], k: int, descending: bool) -> None:
    field, truth, within = sample
    ranked = sorted(within, key=lambda u: (-truth[u] if descending else truth[u], u))
    assert sorted(field.top(within, k, descending=descending)) == sorted(ranked[:k])
    ids, values = field.ordered(within, descending=descending)
    assert ids.tolist() == ranked and values.tolist() == [truth[u] for u in ranked]


def test_percentile_ranks_are_nearest_rank() -> None:
    assert ranks_of([0, 10, 50, 90, 99, 100], 10) == [0, 0, 4, 8, 9, 9]
    assert ranks_of([50], 1) == [0]


@settings(max_examples=150)
@given(fields(), st.lists(st.integers(-(2**63) + 1, 2**63 - 1), max_size=12), st.lists(st.integers(-300, 300),
                                                                                      max_size=12))
def test_batched_counts_below(sample: tuple[Field, dict[int, int], BitMap], big: list[int], small: list[int]) -> None:
    field, truth, within = sample
    thresholds = big + small + list(truth.values())[:4]
    assert field.counts_less_than(within, thresholds) == [sum(truth[u] < c for u in within) for c in thresholds]
