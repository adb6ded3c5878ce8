"""The shard hash: pinned values, the vectorised forms against a byte-by-byte reference, integer IDs as text."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dolphin.storage.partition import fmix64, fnv1a64, fnv1a64_of_int64, integer_ids, shard_of

MASK = (1 << 64) - 1


def fnv1a64_reference(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001B3) & MASK
    return h


def fmix64_reference(h: int) -> int:
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & MASK
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & MASK
    return h ^ (h >> 33)


@pytest.mark.parametrize("text, value", [  # the FNV-1a 64 test vectors of the algorithm's authors
    ("", 0xCBF29CE484222325), ("a", 0xAF63DC4C8601EC8C), ("foobar", 0x85944171F73967E8)])
def test_fnv1a64_matches_the_published_vectors(text: str, value: int) -> None:
    assert int(fnv1a64(pl.Series([text]))[0]) == value


def test_shards_are_pinned() -> None:
    """These values are the contract: a change here moves users between shards of existing clusters."""
    ids = pl.Series(["u1", "u2", "杭州-7", "", "user-000000042"])
    assert shard_of(ids, "string", 3).tolist() == [fmix64_reference(fnv1a64_reference(s.encode())) % 3
                                                     for s in ids.to_list()]
    assert shard_of(ids, "string", 3).tolist() == PINNED_STRING
    ints = pl.Series([0, 1, 42, -7, 2**63 - 1], dtype=pl.Int64)
    assert shard_of(ints, "int64", 4).tolist() == [
        fmix64_reference(fnv1a64_reference(v.to_bytes(8, "little", signed=True))) % 4 for v in ints.to_list()]
    assert shard_of(ints, "int64", 4).tolist() == PINNED_INT


PINNED_STRING = [1, 0, 0, 2, 2]
PINNED_INT = [2, 2, 0, 2, 1]


@given(st.lists(st.text(max_size=40), max_size=50))
def test_vectorised_hash_equals_the_byte_by_byte_reference(texts: list[str]) -> None:
    got = fmix64(fnv1a64(pl.Series(texts, dtype=pl.String)))
    assert got.tolist() == [fmix64_reference(fnv1a64_reference(t.encode())) for t in texts]


@given(st.lists(st.integers(-(2**63), 2**63 - 1), max_size=50), st.integers(1, 64))
def test_an_integer_sent_as_text_lands_where_the_integer_does(values: list[int], shards: int) -> None:
    as_int = shard_of(pl.Series(values, dtype=pl.Int64), "int64", shards)
    as_text = shard_of(pl.Series([f"{v:+d}" if v % 2 else str(v) for v in values], dtype=pl.String), "int64", shards)
    assert as_int.tolist() == as_text.tolist()
    assert all(0 <= s < shards for s in as_int.tolist())


@given(st.lists(st.integers(-(2**63), 2**63 - 1), max_size=50))
def test_the_int64_hash_reads_the_eight_little_endian_bytes(values: list[int]) -> None:
    got = fnv1a64_of_int64(np.array(values, dtype=np.int64))
    assert got.tolist() == [fnv1a64_reference(v.to_bytes(8, "little", signed=True)) for v in values]


def test_a_sliced_column_hashes_its_own_rows() -> None:
    ids = pl.Series([f"user-{i}" for i in range(1000)])
    assert fnv1a64(ids.slice(300, 10)).tolist() == fnv1a64(ids).tolist()[300:310]


def test_non_integer_ids_in_an_int64_cluster_are_named() -> None:
    with pytest.raises(ValueError, match='"abc" is not an int64'):
        integer_ids(pl.Series(["1", "abc"]))


def test_shards_are_balanced() -> None:
    counts = np.bincount(shard_of(pl.Series(np.arange(100_000, dtype=np.int64)), "int64", 8), minlength=8)
    assert counts.min() > 0.95 * 100_000 / 8


def test_null_ids_have_no_shard() -> None:
    for ids, id_type in [(pl.Series(["a", None]), "string"), (pl.Series([1, None], dtype=pl.Int64), "int64")]:
        with pytest.raises(ValueError, match="1 user IDs are null"):
            shard_of(ids, id_type, 3)
