"""Per-user value codes: a dimension of a few more than 255 values keeps one-byte codes for its largest 255 and
counts the rest by intersection; every count equals brute force either way."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyroaring import BitMap, FrozenBitMap

from dolphin.engine import Engine, EngineLimits
from dolphin.engine.cache_budget import DEFAULT_LIMIT
from dolphin.engine.memory import bitmap_bytes
from dolphin.engine.snapshot import REST_SHARE, UINT8_CODES, coded_values
from loaders.tags import load_tags

USERS = 6000
VALUES = 300


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Engine, pl.DataFrame]:
    """Users with `zipf` (300 values, the smallest 45 hold about 3%: a rest) and `even` (300 values of about
    equal size: no rest, two-byte codes), and a gender to select audiences by."""
    rng = np.random.default_rng(5)
    weights = 1 / np.arange(1, VALUES + 1)
    frame = pl.DataFrame({
        "user_id": np.arange(USERS, dtype=np.int64) * 7 + 3,
        "zipf": [f"z{v:03d}" for v in rng.choice(VALUES, USERS, p=weights / weights.sum())],
        "even": [f"e{v:03d}" for v in rng.integers(0, VALUES, USERS)],
        "gender": rng.choice(["F", "M"], USERS).tolist(),
    })
    root = tmp_path_factory.mktemp("codes")
    frame.write_parquet(root / "users.parquet")
    load_tags([str(root / "users.parquet")], root / "data")
    return Engine(root / "data", limits=EngineLimits(read_cache_bytes=DEFAULT_LIMIT)), frame  # room for both


def brute_counts(frame: pl.DataFrame, dimension: str, gender: str | None) -> dict[str, int]:
    picked = frame if gender is None else frame.filter(pl.col("gender") == gender)
    return dict(picked.group_by(dimension).len().iter_rows())


@pytest.mark.parametrize("gender", ["F", "M", None])
def test_profiles_and_value_counts_equal_brute_force(world: tuple[Engine, pl.DataFrame], gender: str | None) -> None:
    engine, frame = world
    expression = f"gender={gender}" if gender else "gender IN (F, M)"
    profiles = engine.profile(expression, dimensions=["zipf", "even"], top_k=1000).dimensions
    listed = engine.value_counts(expression, dimensions=["zipf", "even"]).dimensions
    for dimension, profile, counts in zip(["zipf", "even"], profiles, listed, strict=True):
        expected = brute_counts(frame, dimension, gender)
        assert {p.value: p.count for p in profile.values} == expected
        inside = dict(zip(counts.values, counts.audience_counts, strict=True))
        assert inside == {v: expected.get(v, 0) for v in counts.values}


def test_a_rest_of_small_values_keeps_codes_in_one_byte(world: tuple[Engine, pl.DataFrame]) -> None:
    engine, _ = world
    snap = engine.snapshot()
    zipf, even = snap.value_codes("zipf", 300), snap.value_codes("even", 300)
    assert zipf is not None and even is not None
    assert zipf.codes.dtype == np.uint8 and len(zipf.coded) == UINT8_CODES
    assert len(zipf.rest) == len(snap.tags["zipf"]) - UINT8_CODES
    assert even.codes.dtype == np.uint16 and not even.rest  # its smallest 45 values hold more than 5%
    assert engine.status().cache_bytes["value_codes"] == USERS * 3 + bitmap_bytes(zipf.rest_union)  # 1 + 2 bytes


@given(st.data())
def test_counts_of_any_users_equal_intersections(world: tuple[Engine, pl.DataFrame], data: st.DataObject) -> None:
    engine, _ = world
    snap = engine.snapshot()
    codes = snap.value_codes("zipf", 300)
    assert codes is not None
    users = FrozenBitMap(data.draw(st.sets(st.integers(0, USERS - 1), max_size=300)))
    ids = np.frombuffer(users.to_array(), dtype=np.uint32) if users else np.zeros(0, dtype=np.uint32)
    got = dict(zip(codes.values, codes.counts(ids, users).tolist(), strict=True))
    assert got == {v: users.intersection_cardinality(bm) for v, bm in snap.tags["zipf"].items()}


@given(st.lists(st.integers(1, 50), min_size=1, max_size=400))
def test_coded_values_split_by_size(sizes: list[int]) -> None:
    tags = {f"v{i:03d}": BitMap(range(size)) for i, size in enumerate(sizes)}
    coded, rest = coded_values(tags)
    assert sorted(coded + rest) == sorted(tags) and coded == sorted(coded) and rest == sorted(rest)
    if len(tags) <= UINT8_CODES:
        assert not rest
    if rest:
        assert len(coded) == UINT8_CODES
        assert max(len(tags[v]) for v in rest) <= min(len(tags[v]) for v in coded)
        assert sum(len(tags[v]) for v in rest) <= REST_SHARE * sum(sizes)
