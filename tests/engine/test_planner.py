"""The planner: every term resolved to its stored bitmap, ANDs and ORs flattened, positives smallest first."""

from __future__ import annotations

import pytest
from hypothesis import given
from pyroaring import AbstractBitMap

from dolphin.engine import Engine
from dolphin.engine.planner import Complement, Intersect, Leaf, Node, Union, plan
from dolphin.errors import AudienceNotFoundError, NotFoundError, UnknownDimensionError
from dolphin.query import Expr, parse
from tests.strategies import expressions


def no_saved(name: str) -> AbstractBitMap:
    raise AudienceNotFoundError(name)


def nodes(node: Node) -> list[Node]:
    """Return node and every node under it."""
    match node:
        case Union(children=cs):
            return [node, *(n for c in cs for n in nodes(c))]
        case Intersect(positives=ps, negatives=ns):
            return [node, *(n for c in ps + ns for n in nodes(c))]
        case Complement(child=c):
            return [node, *nodes(c)]
    return [node]


@given(expressions())
def test_plans_are_flat_and_order_positives_smallest_first(engine: Engine, expr: Expr) -> None:
    snap = engine.snapshot()
    for node in nodes(plan(expr, snap, no_saved)):
        if isinstance(node, Intersect):
            estimates = [p.estimate for p in node.positives]
            assert estimates == sorted(estimates)
            assert node.positives, "an AND of only negatives intersects the population"
            assert not any(isinstance(p, (Intersect, Complement)) for p in node.positives)
        if isinstance(node, Union) and node.op == "or":
            assert not any(isinstance(c, Union) and c.op == "or" for c in node.children)


@given(expressions())
def test_tag_leaves_are_the_stored_bitmaps_not_copies(engine: Engine, expr: Expr) -> None:
    snap = engine.snapshot()
    for node in nodes(plan(expr, snap, no_saved)):
        if isinstance(node, Leaf) and node.op == "tag":
            dimension, value = (part.strip('"') for part in node.detail.split("=", 1))
            stored = snap.tags[dimension].get(value)
            assert stored is None or node.bitmap is stored


def test_an_unknown_dimension_is_named_with_the_closest_known_one(engine: Engine) -> None:
    with pytest.raises(UnknownDimensionError) as caught:
        plan(parse("vip=true AND Gender=F"), engine.snapshot(), no_saved)
    assert "Gender" in str(caught.value) and "gender" in str(caught.value)


def test_an_unknown_value_of_a_known_dimension_is_empty(engine: Engine) -> None:
    node = plan(parse("gender=nobody"), engine.snapshot(), no_saved)
    assert isinstance(node, Leaf) and len(node.bitmap) == 0


def test_in_drops_repeated_and_empty_values(engine: Engine) -> None:
    snap = engine.snapshot()
    node = plan(parse("gender IN (F, F, nobody)"), snap, no_saved)
    assert isinstance(node, Leaf) and node.bitmap is snap.tags["gender"]["F"]
    both = plan(parse("gender IN (F, M, F)"), snap, no_saved)
    assert isinstance(both, Union) and [c.estimate for c in both.children] == [
        len(snap.tags["gender"]["F"]), len(snap.tags["gender"]["M"])]


def test_a_saved_audience_is_looked_up_and_a_missing_one_raises(engine: Engine) -> None:
    snap = engine.snapshot()
    node = plan(parse("@mine AND gender=F"), snap, lambda name: snap.tags["vip"]["true"])
    assert isinstance(node, Intersect) and any(p.estimate == len(snap.tags["vip"]["true"]) for p in node.positives)
    with pytest.raises(AudienceNotFoundError):
        plan(parse("@missing"), snap, no_saved)


def test_an_event_of_an_unknown_campaign_is_not_found(engine: Engine) -> None:
    with pytest.raises(NotFoundError, match='campaign "c" not found'):
        plan(parse("event(click, campaign=c, from=2026-01-01, to=2026-01-02)"), engine.snapshot(), no_saved)
