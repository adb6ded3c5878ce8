"""Engine vs brute force on hypothesis-generated populations, loaded through the real loader."""

from __future__ import annotations

import pathlib
import tempfile

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from dolphin.engine import Engine
from dolphin.query import All, And, Expr, In, Not, NotIn, Or, Tag, format_expr
from loaders.tags import load_tags
from tests.conftest import oracle_from_frame
from tests.strategies import brute_force

COLORS = ["red", "green", "blue", "é", "a b"]
HOBBIES = ["x", "y", "z"]


@st.composite
def populations(draw: st.DrawFn) -> pl.DataFrame:
    n = draw(st.integers(1, 80))
    ids = draw(st.lists(st.integers(0, 10**12), min_size=n, max_size=n, unique=True))
    color = draw(st.lists(st.one_of(st.none(), st.sampled_from(COLORS)), min_size=n, max_size=n))
    vip = draw(st.lists(st.one_of(st.none(), st.booleans()), min_size=n, max_size=n))
    hobby = draw(st.lists(st.lists(st.sampled_from(HOBBIES), max_size=3), min_size=n, max_size=n))
    return pl.DataFrame({"user_id": ids, "color": color, "vip": vip, "hobby": hobby},
                        schema={"user_id": pl.Int64, "color": pl.String, "vip": pl.Boolean,
                                "hobby": pl.List(pl.String)})


LEAF = st.one_of(
    st.builds(Tag, st.just("color"), st.sampled_from(COLORS + ["none"])),
    st.builds(Tag, st.just("vip"), st.sampled_from(["true", "false"])),
    st.builds(Tag, st.just("hobby"), st.sampled_from(HOBBIES)),
    st.builds(In, st.just("color"), st.lists(st.sampled_from(COLORS), min_size=1, max_size=3).map(tuple)),
    st.builds(NotIn, st.just("hobby"), st.lists(st.sampled_from(HOBBIES), min_size=1, max_size=2).map(tuple)),
    st.just(All()),
)
EXPRESSIONS = st.recursive(LEAF, lambda inner: st.one_of(
    inner.map(Not),
    st.lists(inner, min_size=2, max_size=3).map(lambda cs: And(tuple(cs))),
    st.lists(inner, min_size=2, max_size=3).map(lambda cs: Or(tuple(cs))),
), max_leaves=8)


@settings(max_examples=40)
@given(populations(), st.lists(EXPRESSIONS, min_size=1, max_size=5), st.integers(1, 6))
def test_engine_equals_sets_on_random_data(frame: pl.DataFrame, exprs: list[Expr], shard_bits: int) -> None:
    oracle = oracle_from_frame(frame)
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp)
        frame.write_parquet(root / "in.parquet")
        load_tags([str(root / "in.parquet")], root / "data", shard_bits=shard_bits)
        engine = Engine(root / "data")
        for expr in exprs:
            truth = brute_force(expr, oracle)
            text = format_expr(expr)
            assert engine.count(text).count == len(truth), text
            exported = [u for page in engine.export_pages(text, page_size=7) for u in page.user_ids]
            assert sorted(exported) == sorted(truth), text
