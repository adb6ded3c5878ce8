"""ID dictionary: vectorised both ways, stable, typed."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dolphin.errors import LoadError
from dolphin.storage import IdDictionary
from dolphin.storage.ids import _KeyIndex


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


@given(st.booleans(), st.lists(st.lists(st.integers(0, 600), max_size=12), max_size=8), st.data())
def test_the_key_index_encodes_like_a_dict_through_merges(ascending: bool, batches: list[list[int]],
                                                          data: st.DataObject) -> None:
    """Stream-sized batches go through the key index; its tail merges every few IDs here. A dictionary loaded in
    ascending order keeps no position map and no copy of its integer keys until a merge breaks the order."""
    first = list(range(0, 400, 5))  # 80 users
    if not ascending:
        first = data.draw(st.permutations(first))
    dictionary = IdDictionary(pl.Series("user_id", first, dtype=pl.Int64))
    model = {user: dense for dense, user in enumerate(first)}
    original = _KeyIndex.MERGE_AT
    _KeyIndex.MERGE_AT = 3
    try:
        for batch in batches:
            dense, dictionary = dictionary.encode(pl.Series("user_id", batch, dtype=pl.Int64))
            for user in batch:
                model.setdefault(user, len(model))
            assert dense.tolist() == [model[u] for u in batch]
            index = dictionary._keys
            assert index is not None
            arrivals = list(model)[len(first):]  # new users, in dense order
            if ascending and arrivals == sorted(arrivals) and (not arrivals or arrivals[0] > first[-1]):
                assert index.dense is None  # every merge appended larger keys: still in dense order
        if batches:
            assert dictionary.lookup(pl.Series("user_id", list(model), dtype=pl.Int64)).to_list() == list(
                model.values())
    finally:
        _KeyIndex.MERGE_AT = original


def test_ascending_integer_ids_share_the_column_as_their_keys() -> None:
    dictionary = IdDictionary(pl.Series("user_id", list(range(10, 1000, 3)), dtype=pl.Int64))
    dense, extended = dictionary.encode(pl.Series("user_id", [13, 999], dtype=pl.Int64))
    index = extended._keys
    assert dense.tolist() == [1, 330]  # 999 is new
    assert index is not None and index.dense is None
    assert np.shares_memory(index.sorted.keys, dictionary.external.to_numpy())


def test_appending_larger_ids_keeps_the_index_in_dense_order_until_a_smaller_one_comes() -> None:
    dictionary = IdDictionary(pl.Series("user_id", list(range(0, 400, 5)), dtype=pl.Int64))
    original = _KeyIndex.MERGE_AT
    _KeyIndex.MERGE_AT = 3
    try:
        for start in range(1000, 1100, 7):  # auto-increment IDs: each batch larger than all before it
            batch = list(range(start, start + 7))
            dense, dictionary = dictionary.encode(pl.Series("user_id", batch, dtype=pl.Int64))
            assert dense.tolist() == list(range(len(dictionary) - 7, len(dictionary)))
        index = dictionary._keys
        assert index is not None and index.dense is None and len(index.sorted) > 80  # merged, still in order
        dense, dictionary = dictionary.encode(pl.Series("user_id", [3, *range(2000, 2040), 1005], dtype=pl.Int64))
        assert dense[0] == len(dictionary) - 41 and dense[-1] == 80 + 5  # enough new IDs to merge
        assert dictionary._keys is index and index.dense is not None  # 3 came after larger IDs: a position map
        everyone = dictionary.external.to_list()
        assert dictionary.lookup(pl.Series("user_id", everyone)).to_list() == list(range(len(everyone)))
        found, _ = dictionary.encode(pl.Series("user_id", everyone[::-1], dtype=pl.Int64))
        assert found.tolist() == list(range(len(everyone)))[::-1]
    finally:
        _KeyIndex.MERGE_AT = original
