"""Evaluation against brute force over Python sets: materialize, count, restrict to a window, trace, budget."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyroaring import AbstractBitMap, BitMap

from dolphin.engine import Engine
from dolphin.engine.evaluate import Budget, count, materialize, prefixed, restrict, trace
from dolphin.engine.planner import plan
from dolphin.engine.snapshot import Snapshot
from dolphin.errors import AudienceNotFoundError, DeadlineError
from dolphin.query import Expr, parse
from tests.conftest import Oracle
from tests.strategies import brute_force, expressions

FREE = Budget("test", None)


def no_saved(name: str) -> AbstractBitMap:
    raise AudienceNotFoundError(name)


def external(snap: Snapshot, bitmap: AbstractBitMap) -> set[str]:
    return set(snap.ids.decode(np.frombuffer(bitmap.to_array(), dtype=np.uint32)))


@given(expressions())
def test_materialize_and_count_equal_brute_force(engine: Engine, oracle: Oracle, expr: Expr) -> None:
    snap = engine.snapshot()
    node = plan(expr, snap, no_saved)
    want = brute_force(expr, oracle)
    assert external(snap, materialize(node, FREE)) == want
    assert count(node, FREE) == len(want)


@given(expressions(max_leaves=6), st.integers(0, 3000), st.integers(1, 2000))
def test_restrict_evaluates_inside_a_window_only(engine: Engine, oracle: Oracle, expr: Expr, start: int,
                                                 width: int) -> None:
    snap = engine.snapshot()
    window = BitMap()
    window.add_range(start, start + width)
    got = materialize(restrict(plan(expr, snap, no_saved), window), FREE)
    assert got.issubset(window)
    assert got == materialize(plan(expr, snap, no_saved), FREE) & window


@given(expressions(max_leaves=8))
def test_trace_reports_the_cardinality_of_every_node(engine: Engine, oracle: Oracle, expr: Expr) -> None:
    snap = engine.snapshot()
    result, root = trace(plan(expr, snap, no_saved), FREE)
    assert root.cardinality == len(result) == len(brute_force(expr, oracle))

    def walk(node: object) -> None:
        assert node.cardinality >= 0 and node.elapsed_us >= 0  # type: ignore[attr-defined]
        for child in node.children:  # type: ignore[attr-defined]
            walk(child)

    walk(root)


def test_a_passed_deadline_stops_evaluation_with_the_step_it_reached(engine: Engine) -> None:
    node = plan(parse("gender=F AND (city=Hangzhou OR interest=tennis) AND NOT vip=true"), engine.snapshot(),
                no_saved)
    with pytest.raises(DeadlineError):
        materialize(node, Budget("count", time.monotonic() - 1))
    with pytest.raises(DeadlineError):
        count(node, Budget("count", time.monotonic() - 1))
    assert count(node, Budget("count", time.monotonic() + 60)) == count(node, FREE)


@given(expressions(max_leaves=8))
def test_evaluation_never_changes_the_stored_bitmaps(engine: Engine, oracle: Oracle, expr: Expr) -> None:
    """Steps that change a private accumulator in place (evaluate.Acc) never reach a stored bitmap."""
    snap = engine.snapshot()
    before = {(d, v): BitMap(bm) for d, vs in snap.tags.items() for v, bm in vs.items()}
    population = BitMap(snap.population)
    node = plan(expr, snap, no_saved)
    want = brute_force(expr, oracle)
    assert external(snap, materialize(node, FREE)) == want
    assert count(node, FREE) == len(want)
    assert count(prefixed(node, FREE), FREE) == len(want)
    assert {(d, v): BitMap(bm) for d, vs in snap.tags.items() for v, bm in vs.items()} == before
    assert snap.population == population
