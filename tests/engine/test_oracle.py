"""The engine agrees with brute-force set evaluation on hypothesis-generated expressions."""

from __future__ import annotations

from hypothesis import given

from dolphin.engine import Engine
from dolphin.query import Expr, format_expr
from tests.conftest import Oracle
from tests.strategies import brute_force, expressions


@given(expressions())
def test_count_equals_brute_force(engine: Engine, oracle: Oracle, expr: Expr) -> None:
    text = format_expr(expr)
    assert engine.count(text).count == len(brute_force(expr, oracle)), text


@given(expressions(max_leaves=6))
def test_export_equals_brute_force(engine: Engine, oracle: Oracle, expr: Expr) -> None:
    text = format_expr(expr)
    exported = [uid for page in engine.export_pages(text, page_size=700) for uid in page.user_ids]
    assert len(exported) == len(set(exported))
    assert set(exported) == brute_force(expr, oracle), text


@given(expressions(max_leaves=6), expressions(max_leaves=6))
def test_overlap_equals_brute_force(engine: Engine, oracle: Oracle, a: Expr, b: Expr) -> None:
    result = engine.overlap([format_expr(a), format_expr(b)])
    sa, sb = brute_force(a, oracle), brute_force(b, oracle)
    assert result.counts == [len(sa), len(sb)]
    assert result.pairs == [(0, 1, len(sa & sb))]


@given(expressions(max_leaves=8))
def test_explain_count_matches_count(engine: Engine, expr: Expr) -> None:
    text = format_expr(expr)
    explained = engine.explain(text)
    assert explained.count == engine.count(text).count
    assert explained.root.cardinality == explained.count


def test_batch_count_matches_single_counts(engine: Engine, oracle: Oracle) -> None:
    texts = ["gender=F", "NOT vip=true", "city IN (Hangzhou, Shanghai) AND interest=tennis", "ALL", "NOT ALL"]
    counts = engine.batch_count(texts).counts
    assert counts == [engine.count(t).count for t in texts]
    assert counts[3] == len(oracle.population) and counts[4] == 0
