"""TGI profiles against brute force: counts, shares, TGI, ranking and the top-k cut, on both count paths."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyroaring import AbstractBitMap

from dolphin.engine import Engine
from dolphin.engine.evaluate import Budget, materialize
from dolphin.engine.planner import plan
from dolphin.engine.profile import profile_dimensions
from dolphin.engine.snapshot import codes_pay
from dolphin.errors import AudienceNotFoundError
from dolphin.query import Expr
from tests.conftest import Oracle
from tests.strategies import brute_force, expressions


def no_saved(name: str) -> AbstractBitMap:
    raise AudienceNotFoundError(name)


def test_the_fixture_covers_both_count_paths(engine: Engine) -> None:
    snap = engine.snapshot()
    assert snap.value_codes("city", 100) is not None  # many values: one bincount over per-user codes
    assert snap.value_codes("interest", 100) is None  # multi-valued: one intersection per value


@given(expressions(max_leaves=6), st.sampled_from(["city", "interest", "gender", "vip"]), st.integers(1, 40))
def test_profile_equals_brute_force(engine: Engine, oracle: Oracle, expr: Expr, dimension: str, top_k: int
                                    ) -> None:
    snap = engine.snapshot()
    audience = materialize(plan(expr, snap, no_saved), Budget("t", None))
    users = brute_force(expr, oracle)
    [got] = profile_dimensions(snap, audience, [dimension], top_k, Budget("t", None))
    values = {v for d, v in oracle.tags if d == dimension}
    counts = {v: len(users & oracle.tag(dimension, v)) for v in values}
    ranked = sorted(((v, c) for v, c in counts.items() if c), key=lambda vc: (-vc[1], vc[0]))
    assert got.value_count == len(ranked)
    assert [(p.value, p.count) for p in got.values] == ranked[:top_k]
    population = len(oracle.population)
    for p in got.values:
        share = p.count / len(users)
        base = len(oracle.tag(dimension, p.value)) / population
        assert p.share == pytest.approx(share) and p.population_share == pytest.approx(base)
        assert p.tgi == pytest.approx(100 * share / base)


def test_an_empty_audience_has_no_values(engine: Engine) -> None:
    snap = engine.snapshot()
    empty = snap.population - snap.population
    [got] = profile_dimensions(snap, empty, ["city"], 10, Budget("t", None))
    assert got.values == [] and got.value_count == 0
    assert np.asarray(empty.to_array()).size == 0


@pytest.mark.parametrize(("share", "values", "codes"), [
    (0.005, 300, True), (0.06, 300, True), (0.12, 300, True), (0.5, 300, False), (1.0, 300, False),
    (0.02, 40, True), (0.06, 40, True), (0.12, 40, False), (1.0, 40, False),
])
def test_codes_pay_where_they_were_measured_faster(share: float, values: int, codes: bool) -> None:
    """The plan bench/README.md's fourth pass measured faster at 10M users (city: 300 values, occupation: 40),
    audiences of random users; every user has a value."""
    users = 10_000_000
    assert codes_pay(int(share * users), values, users, users) is codes
