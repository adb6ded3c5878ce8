"""frozen(): the same users, no copy of what is already frozen, and no run optimisation of what is not."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from pyroaring import BitMap, FrozenBitMap

from dolphin.engine.frozen import frozen


@given(st.sets(st.integers(0, 300_000), max_size=200), st.integers(0, 200_000), st.integers(1, 70_000))
def test_frozen_keeps_the_users_and_does_not_run_optimise(users: set[int], start: int, length: int) -> None:
    expected = users | set(range(start, start + length))
    bitmap = BitMap(expected, optimize=False)  # consecutive users, but no run containers yet
    result = frozen(bitmap)
    assert isinstance(result, FrozenBitMap)
    assert set(result) == expected
    assert result.get_statistics()["n_run_containers"] == 0


def test_an_optimising_copy_would_have_made_runs() -> None:
    """The assertion above could fail: pyroaring's default copy does run-optimise."""
    plain = BitMap([*range(70_000), 100_000], optimize=False)
    assert plain.get_statistics()["n_run_containers"] == 0
    assert FrozenBitMap(plain).get_statistics()["n_run_containers"] > 0
    assert frozen(plain).get_statistics()["n_run_containers"] == 0


def test_a_frozen_bitmap_is_returned_as_it_is() -> None:
    bitmap = FrozenBitMap(range(10))
    assert frozen(bitmap) is bitmap
