"""Candidate pools: FAISS membership bits equal np.packbits, seeds are cleared from a copy, the cache keeps pools
per snapshot version within its bound, and a kept pool gives the same lookalike as a fresh one."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyroaring import BitMap

from dolphin.engine import Engine
from dolphin.lookalike import Lookalike
from dolphin.lookalike.pools import CandidatePool, PoolCache, packed_members, without_members

ids = st.lists(st.integers(0, 5000), max_size=400).map(lambda v: np.array(sorted(set(v)), dtype=np.uint32))


def reference_bits(dense: np.ndarray, size: int) -> np.ndarray:
    member = np.zeros(size, dtype=bool)
    member[dense[dense < size]] = True
    return np.packbits(member, bitorder="little")


@given(ids, st.integers(1, 5001))
def test_packed_members_equal_packbits(dense: np.ndarray, size: int) -> None:
    dense = dense[dense < size]
    assert np.array_equal(packed_members(dense, size), reference_bits(dense, size))


@given(ids, ids)
def test_without_members_clears_only_those(pool: np.ndarray, seed: np.ndarray) -> None:
    packed = packed_members(pool, 5001)
    cleared = without_members(packed, seed)
    assert np.array_equal(cleared, reference_bits(np.setdiff1d(pool, seed), 5001))
    assert np.array_equal(packed, reference_bits(pool, 5001))  # the kept bits are not touched


def pool_of(n: int) -> CandidatePool:
    return CandidatePool(BitMap(range(n)), packed_members(np.arange(n, dtype=np.uint32), 1 << 16))


def test_cache_keeps_pools_per_version_within_its_bound() -> None:
    one = pool_of(10).nbytes
    cache = PoolCache(3 * one)
    built: list[str] = []

    def build(name: str) -> CandidatePool:
        built.append(name)
        return pool_of(10)

    for name in ("a", "b", "a", "c", "d", "a"):
        cache.get(1, name, lambda n=name: build(n))  # type: ignore[misc]
    assert built == ["a", "b", "c", "d"]  # a was used again before d came, so b left first
    assert cache.hits == 2 and cache.bytes_held() <= 3 * one
    cache.get(2, "a", lambda: build("a2"))
    assert built[-1] == "a2" and cache.bytes_held() == one  # a new version drops the old one's pools
    small = PoolCache(one - 1)
    small.get(1, "x", lambda: pool_of(10))
    assert small.bytes_held() == 0  # larger than the bound: used once, not kept


@pytest.fixture(scope="module")
def engine(world: dict[str, object]) -> Engine:
    return Engine(world["data"])  # type: ignore[arg-type]


def test_kept_pool_gives_the_same_answer(engine: Engine) -> None:
    kept = Lookalike(engine, exact_pool_max=1000)
    first = kept.run("seed_group=yes", candidate_expression="region IN (north, south)", k=300)
    again = kept.run("seed_group=yes", candidate_expression=" region IN (north, south) ", k=300)
    fresh = Lookalike(engine, exact_pool_max=1000, pool_cache_bytes=0).run(
        "seed_group=yes", candidate_expression="region IN (north, south)", k=300)
    assert kept.pools.hits == 1 and kept.pools.misses == 1
    assert first.search_path == "approximate"
    assert first.user_ids == again.user_ids == fresh.user_ids
    other_seed = kept.run("region=east", candidate_expression="region IN (north, south)", k=300, exclude_seed=False)
    seed_in_pool = engine.count("seed_group=yes AND region IN (north, south)").count
    assert kept.pools.hits == 2 and other_seed.candidates_count == first.candidates_count + seed_in_pool


def test_pool_memory_is_reported(engine: Engine) -> None:
    lookalike = Lookalike(engine, exact_pool_max=1000)
    assert lookalike.cache_bytes() == {"lookalike_pools": 0}
    lookalike.run("seed_group=yes", candidate_expression="region IN (north, south)", k=300)
    users = len(engine.snapshot().ids)
    assert lookalike.cache_bytes()["lookalike_pools"] >= users // 8  # at least the FAISS bits of every user
