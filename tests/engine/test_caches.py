"""Status reports what each read cache holds: nothing on a fresh engine, then the per-user value codes after a
profile (1 byte per user for a dimension of up to 255 values, or with a small rest; 2 below 65,535); a read-cache
budget bounds them and changes no answer."""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Callable

import polars as pl
import pytest

from dolphin.config import Settings
from dolphin.engine import Engine, EngineLimits
from dolphin.engine.cache_budget import BYTES_PER_USER, DEFAULT_LIMIT
from dolphin.engine.snapshot import BUDGETED_CACHES
from tests.conftest import Oracle
from tests.worlds import build_numeric_world


def test_cache_bytes_follow_the_caches(loaded_dir: pathlib.Path) -> None:
    engine = Engine(loaded_dir)
    assert set(engine.status().cache_bytes) == {"value_codes", "dimension_users", "numeric_unions",
                                                "numeric_figures", "event_unions"}
    assert not any(engine.status().cache_bytes.values())
    cities = next(d for d in engine.list_dimensions().dimensions if d.name == "city").value_count
    assert cities >= 32  # enough values for the bincount plan, which builds the codes
    engine.profile("gender=F", dimensions=["city"])
    users = len(engine.snapshot().ids)
    # a code per user, in one byte up to 255 values: the fixture's city has more, but its smallest few hold under 5%
    # of its users, so they go uncoded and their union (a few bytes) is kept beside the codes
    assert users < engine.status().cache_bytes["value_codes"] < 1.1 * users
    engine.count("NOT city IN (Hangzhou)")  # a NOT over a dimension may build its users; never negative
    assert all(size >= 0 for size in engine.status().cache_bytes.values())


@pytest.fixture(scope="module")
def numeric_data(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    data: pathlib.Path = build_numeric_world(tmp_path_factory.mktemp("budget"))["data"]
    return data


TAG_QUERIES: list[Callable[[Engine], object]] = [
    lambda e: e.profile("gender=F", dimensions=[]),
    lambda e: e.count("city NOT IN (Hangzhou) AND gender NOT IN (M)"),
    lambda e: e.profile("interest=tennis OR vip NOT IN (true)", dimensions=["city", "gender"]),
    lambda e: e.value_counts("gender=F", dimensions=["city", "interest"]),
]
NUMERIC_QUERIES: list[Callable[[Engine], object]] = [
    lambda e: e.count("city NOT IN (Hangzhou) AND spend_30d >= 12.5"),
    lambda e: e.count("age BETWEEN 3 AND 40 OR score < 0.5"),
    lambda e: e.aggregate("interest NOT IN (chess)", ["age", "spend_30d", "huge"], percentiles=[0.5]),
    lambda e: e.profile("age < 50 AND city NOT IN (Shanghai)", dimensions=[]),
]


@pytest.mark.parametrize("megabytes", [0, 0.004, 0.03])
@pytest.mark.parametrize("world", ["tags", "numeric"])
def test_a_budget_bounds_the_caches_and_changes_no_answer(loaded_dir: pathlib.Path, numeric_data: pathlib.Path,
                                                           world: str, megabytes: float) -> None:
    data, queries, used = ((loaded_dir, TAG_QUERIES, ["value_codes", "dimension_users"]) if world == "tags" else
                           (numeric_data, NUMERIC_QUERIES, ["numeric_unions", "dimension_users"]))
    unlimited = Engine(data, limits=EngineLimits(read_cache_bytes=DEFAULT_LIMIT))
    bounded = Engine(data, limits=EngineLimits(read_cache_bytes=int(megabytes * 2**20)))
    limit = bounded.limits.read_cache_bytes
    for _ in range(2):  # the second round meets what the first one kept
        for query in queries:
            assert query(bounded) == query(unlimited)
            kept = bounded.status().cache_bytes
            assert sum(kept[name] for name in BUDGETED_CACHES) <= limit
    held = unlimited.status().cache_bytes
    assert all(held[name] for name in used), held  # the queries use the caches a budget bounds
    if limit < len(bounded.snapshot().ids):  # a dimension's codes (a byte per user) do not fit: profiles intersect
        assert bounded.status().cache_bytes["value_codes"] == 0


def test_listing_dimensions_counts_their_users_without_keeping_unions(loaded_dir: pathlib.Path, oracle: Oracle
                                                                      ) -> None:
    engine = Engine(loaded_dir)
    listed = {d.name: d.user_count for d in engine.list_dimensions().dimensions}
    assert listed == {d: len(oracle.any_of(d)) for d in oracle.kinds}  # single- and multi-valued
    assert engine.status().cache_bytes["dimension_users"] == 0  # numbers, not union bitmaps
    engine.count("city NOT IN (Hangzhou) AND interest NOT IN (tennis)")  # the planner keeps the unions it needs
    assert engine.status().cache_bytes["dimension_users"] > 0
    assert {d.name: d.user_count for d in engine.list_dimensions().dimensions} == listed


def test_the_default_budget_follows_the_users_of_each_snapshot(loaded_dir: pathlib.Path) -> None:
    assert EngineLimits.from_settings(Settings()).read_cache_bytes == -1  # the default: per user
    assert EngineLimits.from_settings(Settings(read_cache_mb=0)).read_cache_bytes == 0
    snap = Engine(loaded_dir).snapshot()
    assert snap.cache.limit == int(BYTES_PER_USER * len(snap.ids)) == Engine(loaded_dir).status().read_cache_limit_bytes
    _, more_ids = snap.ids.encode(pl.Series(range(10**12, 10**12 + 1000)))  # a stream adds users
    grown = snap.with_stream(snap.stream, dataclasses.replace(snap.data, ids=more_ids), set())
    assert grown.cache.limit == int(BYTES_PER_USER * (len(snap.ids) + 1000))
