"""Numeric fields on a 3-shard cluster against one node over the same data: comparisons, Aggregate (sums,
extremes, exact percentiles by global counts), histograms, numeric profiles, ordered exports, value sums of
funnels and lift, and ListDimensions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dolphin.client import Client
from dolphin.engine import Engine
from dolphin.errors import QueryTypeError
from dolphin.server import convert
from tests.cluster.conftest import Front

AUDIENCES = ["ALL", "gender=F", "city IN (Hangzhou, Shanghai) AND NOT vip=true", "spend > 100", "age > 500"]


@pytest.fixture(scope="module")
def client(still_front: Front) -> Iterator[Client]:
    with Client(still_front.target, timeout=60, retries=0) as c:
        yield c


@pytest.mark.parametrize("expression", ["spend BETWEEN 10 AND 50 AND gender=F", "age < 18 OR spend < 0",
                                        "NOT last_seen >= 2026-06-01", "age IN (1, 2, 3)", "spend != 0"])
def test_comparisons_equal_one_node(client: Client, ad_engine: Engine, expression: str) -> None:
    assert client.count(expression) == ad_engine.count(expression).count


@pytest.mark.parametrize("expression", AUDIENCES)
def test_aggregate_equals_one_node(client: Client, ad_engine: Engine, expression: str) -> None:
    fields = ["spend", "age", "last_seen"]
    got = client.aggregate(expression, fields, percentiles=[0, 25, 50, 90, 99, 100])
    want = convert.aggregate(ad_engine.aggregate(expression, fields, percentiles=[0, 25, 50, 90, 99, 100]))
    assert got.fields == want.fields and got.audience_count == want.audience_count
    cut = client.aggregate(expression, ["spend"], cut_points=["-5", "0", "20.5", "100"], statistics=["histogram"])
    assert cut.fields == convert.aggregate(ad_engine.aggregate(
        expression, ["spend"], cut_points=["-5", "0", "20.5", "100"], statistics=["histogram"])).fields


def test_numeric_profiles_equal_one_node(client: Client, ad_engine: Engine) -> None:
    for cuts in (None, {"age": ["18", "30", "65"]}):
        got = client.profile("gender=F", dimensions=["age", "city", "spend"], top_k=5, numeric_cuts=cuts)
        want = convert.profile(ad_engine.profile("gender=F", dimensions=["age", "city", "spend"], top_k=5,
                                                 numeric_cuts=cuts))
        assert got.dimensions == want.dimensions


@pytest.mark.parametrize("descending", [True, False])
def test_ordered_exports_merge_to_one_order(client: Client, ad_engine: Engine, descending: bool) -> None:
    """The same users with the same values in the same value order (ties may differ: dense IDs are per shard)."""
    pages = list(client.export_pages("gender=F", page_size=97, order_by="spend", descending=descending))
    cursor = ad_engine.export_cursor("gender=F", page_size=5000, order_by="spend", descending=descending)
    local = cursor.next_page()
    got = [(u, v) for p in pages for u, v in zip(p.user_ids, p.order_values, strict=True)]
    assert [v for _, v in got] == local.order_values
    assert sorted(got) == sorted(zip(local.user_ids, local.order_values, strict=True))
    resumed = next(client.export_pages("gender=F", page_size=97, order_by="spend", descending=descending,
                                       page_token=pages[2].next_page_token))
    assert list(resumed.user_ids) == list(pages[3].user_ids)  # a front token resumes every shard where it was


def test_value_sums_and_listing_equal_one_node(client: Client, ad_engine: Engine) -> None:
    got = client.funnel("c1", ["impression", "click", "conversion"], "2026-11-01", "2026-11-07",
                        value_fields=["spend", "age"])
    want = convert.funnel(ad_engine.funnel("c1", ["impression", "click", "conversion"], "2026-11-01", "2026-11-07",
                                           value_fields=["spend", "age"]))
    assert [s.value_sums for s in got.stages] == [s.value_sums for s in want.stages]
    lift = client.lift("c1", "impression", "conversion", "2026-11-01", "2026-11-07", value_fields=["spend"])
    local = convert.lift(ad_engine.lift("c1", "impression", "conversion", "2026-11-01", "2026-11-07",
                                        value_fields=["spend"]))
    assert (lift.exposed_value_sums, lift.unexposed_value_sums) == (local.exposed_value_sums,
                                                                     local.unexposed_value_sums)
    listed = {d.name: d for d in client.list_dimensions(max_values=2)}
    expected = {d.name: d for d in convert.dimensions(ad_engine.list_dimensions(max_values=2)).dimensions}
    for name in ("spend", "age", "last_seen"):
        assert listed[name].numeric.index_bytes > 0  # the shards' slices together: not one node's bytes
        listed[name].numeric.ClearField("index_bytes")
        expected[name].numeric.ClearField("index_bytes")
        assert listed[name] == expected[name]
    with pytest.raises(QueryTypeError):
        client.aggregate("ALL", ["city"])
    with pytest.raises(QueryTypeError):
        client.count("city < 3")
