"""Funnels, lift, retention, trends and splits against DuckDB and Polars over the raw event file."""

from __future__ import annotations

import math
import pathlib
import statistics

import duckdb
import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dolphin import errors
from dolphin.demo import generate
from dolphin.engine import Engine
from loaders.tags import load_tags
from tests.conftest import oracle_from_frame
from tests.worlds import reach


def duck_funnel(events: pl.DataFrame, campaign: str, stages: list[str], start: str, end: str) -> list[int]:
    con = duckdb.connect()
    con.register("ev", events.to_arrow())
    counts = []
    for i in range(1, len(stages) + 1):
        parts = " INTERSECT ".join(
            f"SELECT DISTINCT user_id FROM ev WHERE campaign = '{campaign}' AND event = '{e}' "
            f"AND date BETWEEN DATE '{start}' AND DATE '{end}'" for e in stages[:i])
        counts.append(con.execute(f"SELECT count(*) FROM ({parts})").fetchone()[0])  # type: ignore[index]
    return counts


def test_funnel_equals_duckdb(ad_engine: Engine, ad_world: dict[str, object]) -> None:
    stages = ["impression", "click", "conversion"]
    result = ad_engine.funnel("c1", stages, "2026-11-01", "2026-11-07")
    expected = duck_funnel(ad_world["events"], "c1", stages, "2026-11-01", "2026-11-07")  # type: ignore[arg-type]
    assert [s.count for s in result.stages] == expected
    assert result.stages[1].rate_from_previous == pytest.approx(expected[1] / expected[0])
    assert result.stages[2].rate_from_first == pytest.approx(expected[2] / expected[0])
    # the 30 click-only users do not count as funnel clicks
    assert result.stages[1].count < len(reach(ad_world["events"], "c1", "click", "2026-11-01", "2026-11-07"))  # type: ignore[arg-type]


def test_funnel_in_audience_with_breakdown(ad_engine: Engine, ad_world: dict[str, object]) -> None:
    events = ad_world["events"]
    oracle = oracle_from_frame(ad_world["tags"])  # type: ignore[arg-type]
    audience = oracle.tag("gender", "F")
    result = ad_engine.funnel("c2", ["impression", "click"], "2026-11-03", "2026-11-09",
                              audience_expression="gender=F", breakdown_dimension="city", top_k=5)
    s1 = reach(events, "c2", "impression", "2026-11-03", "2026-11-09") & audience  # type: ignore[arg-type]
    s2 = s1 & reach(events, "c2", "click", "2026-11-03", "2026-11-09")  # type: ignore[arg-type]
    assert [s.count for s in result.stages] == [len(s1), len(s2)]
    truth = {v: [len(s1 & users), len(s2 & users)] for (d, v), users in oracle.tags.items() if d == "city"}
    ranked = sorted((kv for kv in truth.items() if kv[1][0]), key=lambda kv: (-kv[1][0], kv[0]))[:5]
    assert [(seg.value, seg.counts) for seg in result.segments] == ranked


@settings(max_examples=25)
@given(st.lists(st.sampled_from(["impression", "click", "conversion"]), min_size=1, max_size=4),
       st.integers(1, 10), st.integers(0, 9))
def test_funnel_is_monotone(ad_engine: Engine, stages: list[str], length: int, offset: int) -> None:
    start = f"2026-11-{1 + offset:02d}"
    end = f"2026-11-{min(10, 1 + offset + length - 1):02d}"
    counts = [s.count for s in ad_engine.funnel("c1", stages, start, end).stages]
    assert all(b <= a for a, b in zip(counts, counts[1:], strict=False))


def test_lift_equals_independent_computation(ad_engine: Engine, ad_world: dict[str, object]) -> None:
    events = ad_world["events"]
    oracle = oracle_from_frame(ad_world["tags"])  # type: ignore[arg-type]
    audience = oracle.tag("vip", "false")
    result = ad_engine.lift("c1", "click", "conversion", "2026-11-01", "2026-11-10",
                            audience_expression="vip=false")
    exposed = audience & reach(events, "c1", "click", "2026-11-01", "2026-11-10")  # type: ignore[arg-type]
    outcome = reach(events, "c1", "conversion", "2026-11-01", "2026-11-10")  # type: ignore[arg-type]
    n1, x1 = len(exposed), len(exposed & outcome)
    n2, x2 = len(audience) - n1, len((audience - exposed) & outcome)
    assert (result.exposed, result.exposed_outcome, result.unexposed, result.unexposed_outcome) == (n1, x1, n2, x2)
    p = (x1 + x2) / (n1 + n2)
    z = (x1 / n1 - x2 / n2) / math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2))
    assert result.z == pytest.approx(z) and result.p_value == pytest.approx(math.erfc(abs(z) / math.sqrt(2)))
    assert result.exposed_rate > 3 * result.unexposed_rate and result.p_value < 1e-6  # the planted effect
    p1, p2 = x1 / n1, x2 / n2
    half = statistics.NormalDist().inv_cdf(0.975) * math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    assert (result.ci_low, result.ci_high) == pytest.approx((p1 - p2 - half, p1 - p2 + half))
    assert result.ci_low > 0  # the planted effect is clear of zero


def test_retention_equals_polars(ad_engine: Engine, ad_world: dict[str, object]) -> None:
    events = ad_world["events"]
    rows, _ = ad_engine.retention("c2", "impression", "click", "2026-11-01", "2026-11-03", days=3)
    assert [r.day for r in rows] == ["2026-11-01", "2026-11-02", "2026-11-03"]
    for row in rows:
        cohort = reach(events, "c2", "impression", row.day, row.day)  # type: ignore[arg-type]
        assert row.cohort == len(cohort)
        for n, returned in enumerate(row.returned, start=1):
            day = f"2026-11-{int(row.day[-2:]) + n:02d}"
            later = reach(events, "c2", "click", day, day) if day <= "2026-11-10" else set()  # type: ignore[arg-type]
            assert returned == len(cohort & later)


def test_trend(ad_engine: Engine, ad_world: dict[str, object]) -> None:
    series, _ = ad_engine.trend("", ["impression", "conversion"], "2026-11-02", "2026-11-04")
    for s in series:
        assert s.counts == [len(reach(ad_world["events"], None, s.event, d, d)) for d in s.days]  # type: ignore[arg-type]


def test_event_terms_in_expressions(ad_engine: Engine, ad_world: dict[str, object]) -> None:
    events = ad_world["events"]
    oracle = oracle_from_frame(ad_world["tags"])  # type: ignore[arg-type]
    clicked = reach(events, "c1", "click", "2026-11-01", "2026-11-07")  # type: ignore[arg-type]
    any_conv = reach(events, None, "conversion", "2026-11-05", "2026-11-10")  # type: ignore[arg-type]
    text = ('gender=F AND event(click, campaign="c1", from=2026-11-01, to=2026-11-07) '
            "AND NOT event(conversion, from=2026-11-05)")
    assert ad_engine.count(text).count == len(oracle.tag("gender", "F") & clicked - any_conv)
    with pytest.raises(errors.NotFoundError, match='campaign "c9" not found'):
        ad_engine.count("event(click, campaign=c9)")
    with pytest.raises(errors.NotFoundError, match='event "clik" not found'):
        ad_engine.count("event(clik)")
    with pytest.raises(errors.QuerySyntaxError, match="an ISO date"):
        ad_engine.count("event(click, from=2026-13-01)")
    with pytest.raises(errors.QuerySyntaxError, match="campaign=, from= or to="):
        ad_engine.count("event(click, when=2026-11-01)")


def test_split_is_deterministic_and_complete(ad_engine: Engine) -> None:
    first = ad_engine.split("gender=F", "plan", [("test", 0.9), ("holdout", 0.1)], salt="s1")
    again = ad_engine.split("gender=F", "plan", [("test", 0.9), ("holdout", 0.1)], salt="s1")
    assert [a.count for a in first] == [a.count for a in again]
    total = ad_engine.count("gender=F").count
    assert sum(a.count for a in first) == total
    assert 0.05 < first[1].count / total < 0.15
    assert ad_engine.count("@plan.test AND @plan.holdout").count == 0
    ad_engine.split("gender=F", "other", [("test", 0.9), ("holdout", 0.1)], salt="s2")
    assert ad_engine.count("@plan.holdout AND @other.holdout").count < first[1].count


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda e: e.funnel("c1", ["impression"], "2026-11-07", "2026-11-01"), errors.InvalidArgumentError, "reversed"),
    (lambda e: e.funnel("c1", ["impression"], "2026-01-01", "2027-06-01"), errors.InvalidArgumentError, "the limit"),
    (lambda e: e.funnel("c1", ["impression"], "11/01/2026"), errors.InvalidArgumentError, "ISO date"),
    (lambda e: e.funnel("nope", ["impression"], "2026-11-01"), errors.NotFoundError, 'campaign "nope"'),
    (lambda e: e.funnel("c1", ["impresion"], "2026-11-01"), errors.NotFoundError, 'event "impresion"'),
    (lambda e: e.funnel("c1", [], "2026-11-01"), errors.InvalidArgumentError, "1 to 16 stages"),
    (lambda e: e.funnel("c1", ["click"], "2026-11-01", breakdown_dimension="citty"), errors.UnknownDimensionError,
     "city"),
    (lambda e: e.split("ALL", "x", [("a", 0.5), ("b", 0.6)], "s"), errors.InvalidArgumentError, "sum to 1"),
    (lambda e: e.retention("c1", "impression", "click", "2026-11-01", days=0), errors.InvalidArgumentError, "days"),
])
def test_bad_requests(ad_engine: Engine, call, error, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error, match=message):
        call(ad_engine)


def _members(engine: Engine, name: str) -> set[str]:
    snap, audience = engine.audience(f"@{name}")
    return set(snap.ids.decode(np.frombuffer(audience.to_array(), dtype=np.uint32)))


def test_split_parts_depend_on_users_and_salt_not_load_order(tmp_path: pathlib.Path) -> None:
    frame = generate(600, seed=3)
    engines = []
    for name, rows in (("forward", frame), ("reversed", frame.reverse())):
        rows.write_parquet(tmp_path / f"{name}.parquet")
        load_tags([str(tmp_path / f"{name}.parquet")], tmp_path / name)
        engines.append(Engine(tmp_path / name))
    parts = [("a", 0.5), ("b", 0.3), ("c", 0.2)]
    for engine in engines:
        engine.split("ALL", "ab", parts, salt="k")
    # dense IDs differ between the two loads, so equal parts mean the hash reads only the external IDs
    for part, _ in parts:
        assert _members(engines[0], f"ab.{part}") == _members(engines[1], f"ab.{part}")
