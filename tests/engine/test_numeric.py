"""Numeric fields against DuckDB over the raw Parquet: comparisons, aggregates, percentiles, histograms, top-k,
profiles and value sums, with negatives, zeros, nulls, decimals, dates, timestamps and 63-bit values."""

from __future__ import annotations

import datetime
import decimal
import math
import pathlib
from fractions import Fraction
from typing import Any

import duckdb
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dolphin import errors
from dolphin.engine import Engine
from dolphin.query import And, Between, Compare, Expr, In, Not, NotIn, Or, Tag, format_expr
from tests.engine.test_export_open import opened
from tests.worlds import HUGE, build_numeric_world

FIELDS = ["age", "spend_30d", "score", "last_order", "signup", "huge"]
AUDIENCES = [("ALL", "true"), ("gender=F", "gender = 'F'"),
             ("city=Shanghai AND age < 50", "city = 'Shanghai' AND age < 50"),
             ("interest=chess", "list_contains(interest, 'chess')"), ("age > 200", "age > 200")]


@pytest.fixture(scope="module")
def numeric(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return build_numeric_world(tmp_path_factory.mktemp("numeric"))


@pytest.fixture(scope="module")
def engine(numeric: dict[str, Any]) -> Engine:
    return Engine(numeric["data"])


@pytest.fixture(scope="module")
def db(numeric: dict[str, Any]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"CREATE VIEW users AS SELECT * FROM read_parquet('{numeric['parquet']}', file_row_number=true)")
    return con


def truth(db: duckdb.DuckDBPyConnection, sql: str) -> Any:
    return db.execute(sql).fetchall()


def test_the_loader_decides_and_reports(numeric: dict[str, Any], engine: Engine) -> None:
    report = numeric["report"]
    assert report.numeric == {
        "age": "integer (--numeric)", "spend_30d": "decimal(2) (auto: float column, 2 places)",
        "score": "decimal(4) (auto: float column, 4 places)", "last_order": "date (auto: date column, in days)",
        "signup": "timestamp (auto: datetime column, in seconds)",
        "huge": f"integer (auto: integer column with {numeric['frame']['huge'].n_unique()} distinct values (> 100))"}
    kinds = {d.name: d.kind for d in engine.list_dimensions().dimensions}
    assert kinds["spend_30d"] == "decimal(2)" and kinds["city"] == "single" and kinds["interest"] == "multi"


COMPARISONS = [
    ("age < 30", "age < 30"), ("age <= 30", "age <= 30"), ("age > 30", "age > 30"), ("age >= 99", "age >= 99"),
    ("age = 30", "age = 30"), ("age != 30", "age != 30"), ("age IN (1, 2, 99)", "age IN (1, 2, 99)"),
    ("age NOT IN (1, 2)", "age NOT IN (1, 2)"), ("age BETWEEN 18 AND 35", "age BETWEEN 18 AND 35"),
    ("age BETWEEN 35 AND 18", "age BETWEEN 35 AND 18"), ("age < -5", "age < -5"), ("age >= 0", "age >= 0"),
    ("NOT age < 30", "NOT (age < 30) OR age IS NULL"), ("age = 30.5", "age = 30.5"), ("age < 30.5", "age < 30.5"),
    ("spend_30d BETWEEN 100 AND 500 AND gender=F", "spend_30d BETWEEN 100 AND 500 AND gender = 'F'"),
    ("spend_30d < 0", "spend_30d < 0"), ("spend_30d = 0", "spend_30d = 0"),
    ("spend_30d >= 99.555", "spend_30d >= 99.555"),
    ("spend_30d > -0.01", "spend_30d > -0.01"), ("spend_30d <= -12.34", "spend_30d <= -12.34"),
    ("score > 0.8", "score > 0.8"), ("score BETWEEN 0.25 AND 0.5", "score BETWEEN 0.25 AND 0.5"),
    ("last_order >= 2026-11-01", "last_order >= DATE '2026-11-01'"),
    ("last_order BETWEEN 2026-01-01 AND 2026-03-31", "last_order BETWEEN DATE '2026-01-01' AND DATE '2026-03-31'"),
    ('signup > "2026-01-01T00:00:00"', "signup > TIMESTAMP '2026-01-01 00:00:00'"),
    ("signup < 2025-06-01", "signup < TIMESTAMP '2025-06-01 00:00:00'"),
    ("huge < 0", "huge < 0"), ("huge > 4611686018427387904", "huge > 4611686018427387904"),
    (f"huge >= {HUGE}", f"huge >= {HUGE}"), (f"huge <= -{HUGE}", f"huge <= -{HUGE}"), ("huge = 0", "huge = 0"),
    ("age < 30 OR interest=golf", "age < 30 OR list_contains(interest, 'golf')"),
    ("NOT (age < 30 OR spend_30d > 10) AND city=Beijing",
     "NOT coalesce(age < 30 OR spend_30d > 10, false) AND city = 'Beijing'"),
]


@pytest.mark.parametrize(("expression", "where"), COMPARISONS, ids=[c[0] for c in COMPARISONS])
def test_comparisons_equal_duckdb(engine: Engine, db: duckdb.DuckDBPyConnection, expression: str, where: str) -> None:
    expected = {str(r[0]) for r in truth(db, f"SELECT user_id FROM users WHERE {where}")}
    assert engine.count(expression).count == len(expected)
    exported = {u for page in engine.export_pages(expression, page_size=500) for u in page.user_ids}
    assert exported == expected


def _exact(value: Any) -> Fraction:
    if isinstance(value, datetime.datetime):
        return Fraction(int(value.replace(tzinfo=datetime.UTC).timestamp()))
    if isinstance(value, datetime.date):
        return Fraction((value - datetime.date(1970, 1, 1)).days)
    return Fraction(decimal.Decimal(str(value)))


SCALES = {"age": 0, "spend_30d": 2, "score": 4, "last_order": 0, "signup": 0, "huge": 0}


def _sql_value(field: str) -> str:
    """The column as exact numbers: decimals at their scale, dates as days, timestamps as seconds."""
    if field == "last_order":
        return "(last_order - DATE '1970-01-01')"
    if field == "signup":
        return "epoch(signup)::BIGINT"
    if field in ("spend_30d", "score"):
        return f"round({field} * {10 ** SCALES[field]})::HUGEINT"
    return f"{field}::HUGEINT"


@pytest.mark.parametrize(("expression", "where"), AUDIENCES, ids=[a[0] for a in AUDIENCES])
def test_aggregates_equal_duckdb(engine: Engine, db: duckdb.DuckDBPyConnection, expression: str, where: str) -> None:
    result = engine.aggregate(expression, FIELDS, percentiles=[0, 10, 50, 90, 99, 100])
    assert result.audience_count == truth(db, f"SELECT count(*) FROM users WHERE {where}")[0][0]
    for f in result.fields:
        v = _sql_value(f.name)
        count, total, low, high, squares = truth(
            db, f"SELECT count({v}), sum({v}), min({v}), max({v}), sum({v}::DOUBLE * {v}::DOUBLE) FROM users "
                f"WHERE ({where}) AND {f.name} IS NOT NULL")[0]
        assert f.count == count, f.name
        if not count:
            assert f.percentiles == [] and f.minimum is None
            continue
        assert (f.sum, f.minimum, f.maximum) == (total, low, high), f.name
        assert f.mean == Fraction(total, count)
        ranked = truth(db, f"SELECT quantile_disc({v}, [0, 0.1, 0.5, 0.9, 0.99, 1.0]) FROM users "
                           f"WHERE ({where}) AND {f.name} IS NOT NULL")[0][0]
        assert [value for _, value in f.percentiles] == ranked, f.name
        if count > 1:
            mean = total / count
            expected_sd = math.sqrt(max(0.0, (squares - count * mean * mean) / (count - 1))) / 10 ** SCALES[f.name]
            assert f.stddev == pytest.approx(expected_sd, rel=1e-6), f.name


def test_histograms_and_cut_points(engine: Engine, db: duckdb.DuckDBPyConnection) -> None:
    result = engine.aggregate("gender=M", ["spend_30d"], cut_points=["-10", "0", "99.5", "500"],
                              statistics=["histogram"])
    counts = [b.count for b in result.fields[0].histogram]
    expected = truth(db, "SELECT count(*) FILTER (spend_30d < -10), count(*) FILTER (spend_30d >= -10 AND "
                         "spend_30d < 0), count(*) FILTER (spend_30d >= 0 AND spend_30d < 99.5), count(*) FILTER "
                         "(spend_30d >= 99.5 AND spend_30d < 500), count(*) FILTER (spend_30d >= 500) FROM users "
                         "WHERE gender = 'M'")[0]
    assert counts == list(expected)
    default = engine.aggregate("ALL", ["age"], statistics=["histogram"]).fields[0].histogram
    assert len(default) == 10 and sum(b.count for b in default) == truth(db, "SELECT count(age) FROM users")[0][0]
    dates = engine.aggregate("ALL", ["last_order"], cut_points=["2026-01-01"], statistics=["histogram"])
    assert [b.count for b in dates.fields[0].histogram] == list(truth(
        db, "SELECT count(*) FILTER (last_order < DATE '2026-01-01'), count(*) FILTER (last_order >= DATE '2026-01-01')"
            " FROM users")[0])


@pytest.mark.parametrize("descending", [True, False])
@pytest.mark.parametrize(("field", "expression", "where"), [
    ("score", "city=Shanghai", "city = 'Shanghai'"), ("spend_30d", "ALL", "true"), ("huge", "gender=F", "gender = 'F'"),
    ("age", "ALL", "true"),
])
def test_ordered_export_equals_duckdb(engine: Engine, db: duckdb.DuckDBPyConnection, field: str, expression: str,
                                      where: str, descending: bool) -> None:
    """Ties break by dense ID, which the loader hands out in input row order; users without a value come last."""
    order = "DESC" if descending else "ASC"
    expected = [str(r[0]) for r in truth(
        db, f"SELECT user_id FROM users WHERE {where} ORDER BY {field} {order} NULLS LAST, file_row_number")]
    cursor, first = opened(engine, expression, page_size=37, order_by=field, descending=descending)  # the server's
    assert first.user_ids == expected[:37]
    assert cursor.next_page().user_ids == expected[37:74]
    assert engine.export_cursor(expression, page_size=37, order_by=field,
                                descending=descending).next_page().user_ids == expected[:37]
    assert len(first.order_values) == 37
    pages = [first]
    while pages[-1].next_page_token:
        pages.append(engine.export_cursor(expression, page_size=37, page_token=pages[-1].next_page_token,
                                          order_by=field, descending=descending).next_page())
    assert [u for p in pages for u in p.user_ids] == expected  # resumed page by page from tokens
    cursor = engine.export_cursor(expression, page_size=1000, order_by=field, descending=descending)
    streamed = [cursor.next_page() for _ in range(-(-len(expected) // 1000))]
    assert [u for p in streamed for u in p.user_ids] == expected  # one cursor, past the top-k: one full sort


def test_comparisons_keep_their_unions_in_the_cache_accounting(numeric: dict[str, Any]) -> None:
    fresh = Engine(numeric["data"])
    assert fresh.status().cache_bytes["numeric_unions"] == 0
    fresh.count("spend_30d < 10")  # a small constant: the users with any higher bit are one cached union
    assert fresh.status().cache_bytes["numeric_unions"] > 0


def test_top_k_page_values_are_the_field_values(engine: Engine, db: duckdb.DuckDBPyConnection) -> None:
    page = engine.export_cursor("ALL", page_size=10, order_by="spend_30d", descending=True).next_page()
    expected = truth(db, "SELECT user_id, spend_30d FROM users ORDER BY spend_30d DESC NULLS LAST, file_row_number "
                         "LIMIT 10")
    assert list(zip(page.user_ids, page.order_values, strict=True)) == [(str(u), f"{v:.2f}") for u, v in expected]


def test_profile_of_numeric_fields(engine: Engine, db: duckdb.DuckDBPyConnection) -> None:
    result = engine.profile("gender=F", dimensions=["age", "city"], numeric_cuts={"age": ["18", "35", "60"]})
    age = result.dimensions[0]
    assert [v.value for v in age.values] == ["(-inf, 18)", "[18, 35)", "[35, 60)", "[60, +inf)"]
    inside = truth(db, "SELECT count(*) FILTER (age < 18), count(*) FILTER (age >= 18 AND age < 35), count(*) FILTER "
                       "(age >= 35 AND age < 60), count(*) FILTER (age >= 60) FROM users WHERE gender = 'F'")[0]
    whole = truth(db, "SELECT count(*) FILTER (age < 18), count(*) FILTER (age >= 18 AND age < 35), count(*) FILTER "
                      "(age >= 35 AND age < 60), count(*) FILTER (age >= 60), count(*) FROM users")[0]
    assert [v.count for v in age.values] == list(inside)
    assert [v.population_share for v in age.values] == pytest.approx([w / whole[4] for w in whole[:4]])
    assert [(v.lower, v.upper) for v in age.values] == [("", "18"), ("18", "35"), ("35", "60"), ("60", "")]
    deciles = engine.profile("ALL", dimensions=["spend_30d"]).dimensions[0].values
    sizes = [v.count for v in deciles]
    assert len(deciles) >= 9 and sum(sizes) == truth(db, "SELECT count(spend_30d) FROM users")[0][0]
    assert max(sizes) < 2.5 * min(sizes)  # about a tenth each


def test_value_sums_of_funnels_and_lift(numeric: dict[str, Any], tmp_path: pathlib.Path) -> None:
    from loaders.events import load_events
    from tests.worlds import make_events

    frame = numeric["frame"]
    events = make_events(frame["user_id"].to_numpy(), ["c1"], [datetime.date(2026, 11, 1)], seed=3)
    import shutil

    shutil.copytree(numeric["data"], tmp_path / "data")
    events.write_parquet(tmp_path / "events.parquet")
    load_events([str(tmp_path / "events.parquet")], tmp_path / "data", shard_bits=10)
    engine = Engine(tmp_path / "data")
    funnel = engine.funnel("c1", ["impression", "click"], "2026-11-01", value_fields=["spend_30d", "age"])
    con = duckdb.connect()
    con.register("u", frame.to_arrow())
    con.register("e", events.to_arrow())
    for stage, event in zip(funnel.stages, ["impression", "click"], strict=True):
        users = "SELECT DISTINCT user_id FROM e WHERE event = 'impression'" if event == "impression" else (
            "SELECT user_id FROM e WHERE event = 'impression' INTERSECT SELECT user_id FROM e WHERE event = 'click'")
        expected = con.execute(f"SELECT count(spend_30d), sum(round(spend_30d * 100))::HUGEINT, count(age), "
                               f"sum(age)::HUGEINT FROM u WHERE user_id IN ({users})").fetchall()[0]
        spend, age = stage.values
        assert (spend.count, spend.sum, age.count, age.sum) == tuple(expected)
    lift = engine.lift("c1", "impression", "click", "2026-11-01", value_fields=["spend_30d"])
    exposed = con.execute("SELECT count(spend_30d), sum(round(spend_30d * 100))::HUGEINT FROM u WHERE user_id IN "
                          "(SELECT user_id FROM e WHERE event = 'impression')").fetchall()[0]
    others = con.execute("SELECT count(spend_30d), sum(round(spend_30d * 100))::HUGEINT FROM u WHERE user_id NOT IN "
                         "(SELECT user_id FROM e WHERE event = 'impression')").fetchall()[0]
    assert (lift.exposed_values[0].count, lift.exposed_values[0].sum) == exposed
    assert (lift.unexposed_values[0].count, lift.unexposed_values[0].sum) == others


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda e: e.count("age < abc"), errors.QueryTypeError, '1:1: "abc" is not a number; "age" is a integer field'),
    (lambda e: e.count("gender < 3"), errors.QueryTypeError, '1:1: < compares numbers; "gender" is a tag dimension'),
    (lambda e: e.count("city BETWEEN a AND b"), errors.QueryTypeError, "BETWEEN compares numbers"),
    (lambda e: e.count("last_order > 30"), errors.QueryTypeError, "is not a date"),
    (lambda e: e.count("spend_30d = 1e400000000"), errors.QueryTypeError, "out of range"),
    (lambda e: e.count("spend_30d < 1e-400000000"), errors.QueryTypeError, "out of range"),
    (lambda e: e.count("agee < 3"), errors.UnknownDimensionError, 'did you mean "age"'),
    (lambda e: e.aggregate("ALL", ["city"]), errors.QueryTypeError, '"city" is a tag dimension'),
    (lambda e: e.aggregate("ALL", []), errors.InvalidArgumentError, "at least one numeric field"),
    (lambda e: e.aggregate("ALL", ["agee"]), errors.UnknownDimensionError, "age"),
    (lambda e: e.aggregate("ALL", ["age"], percentiles=[101]), errors.InvalidArgumentError, "0 to 100"),
    (lambda e: e.aggregate("ALL", ["age"], percentiles=[float("nan")]), errors.InvalidArgumentError, "0 to 100"),
    (lambda e: e.aggregate("ALL", ["age"], cut_points=["5", "3"]), errors.InvalidArgumentError, "ascend"),
    (lambda e: e.aggregate("ALL", ["age"], cut_points=["x"]), errors.InvalidArgumentError, "not a number"),
    (lambda e: e.aggregate("ALL", ["age"], statistics=["median"]), errors.InvalidArgumentError, "unknown statistic"),
    (lambda e: e.profile("ALL", dimensions=["city"], numeric_cuts={"city": ["1"]}), errors.InvalidArgumentError,
     "not a numeric field"),
    (lambda e: e.export_cursor("ALL", order_by="city"), errors.QueryTypeError, "tag dimension"),
    (lambda e: e.funnel("c1", ["x"], "2026-11-01", value_fields=["city"]), errors.QueryTypeError, "tag dimension"),
])
def test_bad_numeric_requests(engine: Engine, call: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)").replace("+", r"\+")):
        call(engine)


# -- random expressions mixing numeric comparisons and tags, against a Python model --------------------------------

def _values(frame: pl.DataFrame) -> dict[str, dict[str, Fraction | None]]:
    out: dict[str, dict[str, Fraction | None]] = {}
    for name in ("age", "spend_30d", "huge", "last_order"):
        scale = 10 ** SCALES[name]
        out[name] = {str(u): None if v is None else _exact(v) * scale
                     for u, v in zip(frame["user_id"].to_list(), frame[name].to_list(), strict=True)}
    return out


NUMERIC_VALUES = {"age": ["0", "17", "30", "30.5", "99", "-1", "100"],
                  "spend_30d": ["-5.5", "0", "0.01", "20", "99.99", "1000"],
                  "huge": ["0", "-1", str(HUGE), f"-{HUGE}", "4611686018427387904"],
                  "last_order": ["2025-11-01", "2026-03-15", "2026-12-31"]}
OPS = ["<", "<=", ">", ">="]


@st.composite
def numeric_leaves(draw: st.DrawFn) -> Expr:
    kind = draw(st.sampled_from(["compare", "between", "eq", "in", "notin", "tag"]))
    if kind == "tag":
        return Tag(draw(st.sampled_from(["gender", "city"])), draw(st.sampled_from(["F", "M", "Shanghai", "x"])))
    field = draw(st.sampled_from(sorted(NUMERIC_VALUES)))
    value = st.sampled_from(NUMERIC_VALUES[field])
    if kind == "compare":
        return Compare(field, draw(st.sampled_from(OPS)), draw(value))
    if kind == "between":
        return Between(field, draw(value), draw(value))
    if kind == "eq":
        return Tag(field, draw(value))
    chosen = tuple(draw(st.lists(value, min_size=1, max_size=3)))
    return In(field, chosen) if kind == "in" else NotIn(field, chosen)


EXPRESSIONS = st.recursive(numeric_leaves(), lambda inner: st.one_of(
    inner.map(Not),
    st.lists(inner, min_size=2, max_size=3).map(lambda cs: And(tuple(cs))),
    st.lists(inner, min_size=2, max_size=3).map(lambda cs: Or(tuple(cs))),
), max_leaves=6)


def _model(expr: Expr, values: dict[str, dict[str, Fraction | None]], tags: dict[str, dict[str, str]],
           everyone: set[str]) -> set[str]:
    def number(field: str, text: str) -> Fraction:
        if field == "last_order":
            return Fraction((datetime.date.fromisoformat(text) - datetime.date(1970, 1, 1)).days)
        return Fraction(decimal.Decimal(text)) * 10 ** SCALES[field]

    def having(field: str, test: Any) -> set[str]:
        return {u for u, v in values[field].items() if v is not None and test(v)}

    match expr:
        case Compare(dimension=f, op=op, value=t):
            c = number(f, t)
            return having(f, {"<": lambda v: v < c, "<=": lambda v: v <= c, ">": lambda v: v > c,
                              ">=": lambda v: v >= c}[op])
        case Between(dimension=f, low=lo, high=hi):
            return having(f, lambda v: number(f, lo) <= v <= number(f, hi))
        case Tag(dimension=d, value=t) if d in values:
            return having(d, lambda v: v == number(d, t))
        case In(dimension=d, values=ts):
            return having(d, lambda v: v in {number(d, t) for t in ts})
        case NotIn(dimension=d, values=ts):
            return having(d, lambda v: v not in {number(d, t) for t in ts})
        case Tag(dimension=d, value=t):
            return {u for u, v in tags[d].items() if v == t}
        case Not(child=c):
            return everyone - _model(c, values, tags, everyone)
        case And(children=cs):
            return set.intersection(*(_model(c, values, tags, everyone) for c in cs))
        case Or(children=cs):
            return set.union(*(_model(c, values, tags, everyone) for c in cs))
    raise TypeError(expr)


@settings(max_examples=150)
@given(EXPRESSIONS)
def test_random_expressions_equal_a_python_model(numeric: dict[str, Any], engine: Engine, expr: Expr) -> None:
    frame: pl.DataFrame = numeric["frame"]
    values = _values(frame)
    tags = {d: dict(zip(map(str, frame["user_id"].to_list()), frame[d].to_list(), strict=True))
            for d in ("gender", "city")}
    expected = _model(expr, values, tags, set(map(str, frame["user_id"].to_list())))
    text = format_expr(expr)
    assert engine.count(text).count == len(expected), text
    assert {u for page in engine.export_pages(text, page_size=997) for u in page.user_ids} == expected, text


def test_explain_shows_comparisons(engine: Engine) -> None:
    result = engine.explain("spend_30d BETWEEN 100 AND 500 AND gender=F")
    leaves = [c for c in result.root.children]
    assert [c.op for c in leaves] == ["tag", "compare"]  # the range last, over the tag's users
    assert leaves[1].detail == "spend_30d BETWEEN 100 AND 500" and leaves[1].cardinality > 0
    assert result.count == engine.count("spend_30d BETWEEN 100 AND 500 AND gender=F").count
