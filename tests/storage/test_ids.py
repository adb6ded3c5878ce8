"""ID dictionary: vectorised both ways, stable, typed."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dolphin.errors import LoadError
from dolphin.storage import IdDictionary


@given(st.lists(st.integers(-(2**63), 2**63 - 1), max_size=200), st.lists(st.integers(-5, 5), max_size=50))
def test_int_ids_round_trip_and_stay_stable(first: list[int], second: list[int]) -> None:
    dense, ids = IdDictionary.empty().encode(pl.Series("user_id", first, dtype=pl.Int64))
    assert ids.decode(dense) == [str(x) for x in first]
    assert len(ids) == len(set(first))
    dense2, ids2 = ids.encode(pl.Series("user_id", second, dtype=pl.Int64))
    assert ids2.decode(dense2) == [str(x) for x in second]
    # old users keep their dense IDs
    assert ids2.decode(np.arange(len(ids), dtype=np.uint32)) == ids.decode(np.arange(len(ids), dtype=np.uint32))


@given(st.lists(st.text(max_size=8), max_size=100))
def test_string_ids_round_trip(values: list[str]) -> None:
    dense, ids = IdDictionary.empty().encode(pl.Series("user_id", values, dtype=pl.String))
    assert ids.decode(dense) == values
    assert sorted(set(dense.tolist())) == list(range(len(set(values))))


def test_new_ids_in_order_of_first_appearance() -> None:
    dense, _ = IdDictionary.empty().encode(pl.Series("user_id", ["b", "a", "b", "c"]))
    assert dense.tolist() == [0, 1, 0, 2]


def test_lookup_marks_unknown_as_null() -> None:
    _, ids = IdDictionary.empty().encode(pl.Series("user_id", [5, 6]))
    assert ids.lookup(pl.Series("user_id", [6, 7, 5])).to_list() == [1, None, 0]


@pytest.mark.parametrize(("series", "message"), [
    (pl.Series("user_id", [1, None]), "1 null values"),
    (pl.Series("user_id", [1.5]), "must be integers or strings"),
])
def test_bad_id_columns(series: pl.Series, message: str) -> None:
    with pytest.raises(LoadError, match=message):
        IdDictionary.empty().encode(series)


def test_type_must_match_the_data_dir() -> None:
    _, ids = IdDictionary.empty().encode(pl.Series("user_id", [1, 2]))
    with pytest.raises(LoadError, match="holds strings but this data dir's user IDs are int64"):
        ids.encode(pl.Series("user_id", ["1"]))


def test_save_load(tmp_path) -> None:  # type: ignore[no-untyped-def]
    _, ids = IdDictionary.empty().encode(pl.Series("user_id", ["x", "y"]))
    ids.save(tmp_path / "ids.parquet")
    again = IdDictionary.load(tmp_path / "ids.parquet", "string")
    assert again.decode(np.array([1, 0], dtype=np.uint32)) == ["y", "x"]
