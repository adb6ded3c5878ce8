"""Intersection step order: any order step_order picks gives NumPy's answer, and it picks the orders it should."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from pyroaring import FrozenBitMap

from dolphin.engine import Engine
from dolphin.engine.evaluate import Budget, count, materialize, ordered, prefixed
from dolphin.engine.planner import Complement, Intersect, Leaf, Node, Union, conjoin, plan
from dolphin.engine.snapshot import EMPTY
from dolphin.engine.step_order import ARRAY_MAX, CONTAINER_IDS, Term, last_index
from dolphin.query import parse
from dolphin.storage import DimensionKind
from tests.conftest import Oracle
from tests.strategies import brute_force

FREE = Budget("test", None)
UNIVERSE = 4 * CONTAINER_IDS  # four containers: densities either side of 4,096 per container


def leaf(mask: np.ndarray, name: str) -> Leaf:
    return Leaf("tag", name, FrozenBitMap(np.flatnonzero(mask).astype(np.uint32)))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from([0.001, 0.03, 0.06, 0.07, 0.2, 0.5, 0.9]), min_size=2, max_size=5),
       st.lists(st.sampled_from([0.0, 0.05, 0.3]), max_size=2), st.booleans(), st.integers(0, 2**32 - 1))
def test_every_chosen_order_gives_numpys_answer(densities: list[float], removed: list[float], as_union: bool,
                                                seed: int) -> None:
    rng = np.random.default_rng(seed)
    masks = [rng.random(UNIVERSE) < d for d in densities]
    gone = [rng.random(UNIVERSE) < d for d in removed]
    everyone = np.ones(UNIVERSE, dtype=bool)
    population = leaf(everyone, "ALL")
    terms: list[Node] = [leaf(m, f"p{i}") for i, m in enumerate(masks)]
    if as_union:  # the first term as a union of two halves of it, as `city IN (a, b)` plans
        half = rng.random(UNIVERSE) < 0.5
        terms[0] = Union("in", [leaf(masks[0] & half, "a"), leaf(masks[0] & ~half, "b")], UNIVERSE, disjoint=True)
    node = conjoin([*terms, *(Complement(leaf(g, f"n{i}"), population) for i, g in enumerate(gone))], population)
    assert isinstance(node, Intersect) and node.universe == UNIVERSE
    want = np.logical_and.reduce(masks) & ~np.logical_or.reduce([np.zeros(UNIVERSE, dtype=bool), *gone])
    assert count(node, FREE) == int(want.sum())
    assert np.array_equal(np.asarray(materialize(node, FREE).to_array()), np.flatnonzero(want))
    assert count(prefixed(node, FREE), FREE) == int(want.sum())
    assert sorted(map(id, ordered(node, count_only=True))) == sorted(map(id, node.positives))


def test_a_term_that_would_empty_the_containers_is_taken_last() -> None:
    # Two cities drained to 28% of users, then gender (34%) and an interest (40%), as in bench/stream.py.
    universe = 10_000_000
    line = ARRAY_MAX / CONTAINER_IDS
    terms = [Term(int(0.18 * universe)), Term(int(0.34 * universe)), Term(int(0.40 * universe))]
    assert 0.18 * 0.34 < line < 0.34 * 0.40  # smallest first would extract arrays; the other order stays dense
    assert last_index(terms, int(0.11 * universe), universe, count_only=True) == 0
    assert last_index(terms, int(0.11 * universe), universe, count_only=False) == 0


def test_a_disjoint_union_is_counted_last_rather_than_built() -> None:
    universe = 10_000_000
    cities = Term(int(0.26 * universe), (int(0.175 * universe), int(0.085 * universe)), disjoint=True)
    terms = [cities, Term(int(0.34 * universe)), Term(int(0.40 * universe))]
    assert last_index(terms, int(0.11 * universe), universe, count_only=True) == 0
    assert last_index([Term(100), *terms], 0, universe, count_only=True) == 1  # still never built


def test_sparse_terms_keep_smallest_first() -> None:
    universe = 10_000_000
    terms = [Term(100), Term(int(0.3 * universe)), Term(int(0.5 * universe))]
    assert last_index(terms, 0, universe, count_only=True) == 2
    assert last_index(terms, 0, universe, count_only=False) == 2


def test_dense_terms_keep_the_planners_order() -> None:
    universe = 10_000_000
    terms = [Term(int(0.5 * universe)), Term(int(0.6 * universe)), Term(int(0.7 * universe))]
    assert last_index(terms, 0, universe, count_only=True) == 2


def test_no_universe_keeps_the_planners_order() -> None:
    assert last_index([Term(int(0.18e7)), Term(int(0.34e7)), Term(int(0.4e7))], 0, 0, count_only=True) == 2


def test_in_over_a_single_valued_dimension_counts_by_adding(engine: Engine, oracle: Oracle) -> None:
    snap = engine.snapshot()
    single = [d for d in snap.tags if snap.is_single_valued(d) and len(snap.tags[d]) >= 2]
    multi = [d for d in snap.tags if snap.kinds[d] is DimensionKind.MULTI and len(snap.tags[d]) >= 2]
    assert single and multi
    for dimension, disjoint in [(single[0], True), (multi[0], False)]:
        values = tuple(sorted(snap.tags[dimension]))[:3]
        expr = parse(f"{dimension} IN ({', '.join(values)})")
        node = plan(expr, snap, lambda name: EMPTY)
        assert isinstance(node, Union) and node.disjoint is disjoint
        assert count(node, FREE) == len(brute_force(expr, oracle))
