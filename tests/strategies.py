"""Hypothesis strategies: audience expressions over the demo dimensions, and a set-based evaluator."""

from __future__ import annotations

from hypothesis import strategies as st

from dolphin.query import All, And, Expr, In, Not, NotIn, Or, Tag
from tests.conftest import Oracle

DIMENSION_VALUES = {
    "gender": ["F", "M", "U", "X"],
    "vip": ["true", "false"],
    "city": ["Hangzhou", "Shanghai", "杭州", "Xi'an", "San Francisco", "city_040", "nowhere"],
    "member_level": ["gold", "silver", "diamond"],
    "interest": ["tennis", "running", "cooking", "interest_150", "none_such"],
    "app_category": ["apps_000", "apps_001", "apps_050"],
}


@st.composite
def leaves(draw: st.DrawFn) -> Expr:
    dimension = draw(st.sampled_from(sorted(DIMENSION_VALUES)))
    values = st.sampled_from(DIMENSION_VALUES[dimension])
    kind = draw(st.sampled_from(["tag", "in", "notin", "all"]))
    if kind == "tag":
        return Tag(dimension, draw(values))
    if kind == "all":
        return All()
    chosen = tuple(draw(st.lists(values, min_size=1, max_size=3)))
    return In(dimension, chosen) if kind == "in" else NotIn(dimension, chosen)


def expressions(max_leaves: int = 12) -> st.SearchStrategy[Expr]:
    return st.recursive(
        leaves(),
        lambda inner: st.one_of(
            inner.map(Not),
            st.lists(inner, min_size=2, max_size=4).map(lambda cs: And(tuple(cs))),
            st.lists(inner, min_size=2, max_size=4).map(lambda cs: Or(tuple(cs))),
        ),
        max_leaves=max_leaves,
    )


def brute_force(expr: Expr, oracle: Oracle) -> set[str]:
    """Evaluate an expression over Python sets of external IDs."""
    match expr:
        case Tag(dimension=d, value=v):
            return oracle.tag(d, v)
        case In(dimension=d, values=vs):
            return set().union(*(oracle.tag(d, v) for v in vs))
        case NotIn(dimension=d, values=vs):
            return oracle.any_of(d) - set().union(*(oracle.tag(d, v) for v in vs))
        case All():
            return set(oracle.population)
        case Not(child=c):
            return oracle.population - brute_force(c, oracle)
        case And(children=cs):
            return set.intersection(*(brute_force(c, oracle) for c in cs))
        case Or(children=cs):
            return set.union(*(brute_force(c, oracle) for c in cs))
    raise TypeError(expr)
