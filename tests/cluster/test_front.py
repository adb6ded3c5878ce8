"""Congruence of a 3-shard cluster with one node over the same data: every RPC through the front's real gRPC
server must answer what the single-node engine answers (converted by the server's own converters)."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dolphin.client import Client
from dolphin.engine import Engine
from dolphin.errors import DolphinError, NotFoundError, QueryError, UnknownDimensionError
from dolphin.query import format_expr
from dolphin.server import convert
from dolphin.v1 import adeffect_service_pb2 as ad_pb
from dolphin.v1 import audience_service_pb2 as aud_pb
from dolphin.v1 import audience_service_pb2_grpc as aud_grpc
from tests.cluster.conftest import Front
from tests.strategies import expressions

DIMENSIONS = ["gender", "city", "interest", "vip", "member_level"]
FIXED = ["ALL", "gender=F AND interest=tennis", "NOT vip=true", "city IN (Hangzhou, Shanghai) OR vip=true",
         "event(click, campaign=c1) AND NOT event(conversion)", "event(impression, from=2026-11-03, to=2026-11-05)",
         "interest NOT IN (tennis) AND gender=M"]


@pytest.fixture(scope="module")
def client(front: Front) -> Iterator[Client]:
    with Client(front.target, timeout=30, retries=0) as c:
        yield c


@pytest.fixture(scope="module")
def stub(front: Front) -> Iterator[aud_grpc.AudienceServiceStub]:
    with grpc.insecure_channel(front.target) as channel:
        yield aud_grpc.AudienceServiceStub(channel)


def single_error(call: object) -> type[DolphinError] | None:
    try:
        call()  # type: ignore[operator]
    except DolphinError as exc:
        return type(exc)
    return None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(expr=expressions(max_leaves=8))
def test_generated_counts_equal_one_node(client: Client, ad_engine: Engine, expr: object) -> None:
    text = format_expr(expr)  # type: ignore[arg-type]
    assert client.count(text) == ad_engine.count(text).count


def test_repeated_counts_take_the_event_loop_path_and_agree(client: Client, ad_engine: Engine) -> None:
    # the first count of an expression checks its names on a worker thread; later ones fan out from the loop
    for expression in FIXED:
        assert [client.count(expression) for _ in range(3)] == [ad_engine.count(expression).count] * 3


def test_batch_count_overlap_and_explain_equal_one_node(client: Client, ad_engine: Engine) -> None:
    assert client.batch_count(FIXED) == ad_engine.batch_count(FIXED).counts
    overlap = client.overlap(FIXED[:4])
    assert overlap == convert.overlap(ad_engine.overlap(FIXED[:4]))
    for expression in FIXED:
        explained = client.explain(expression)
        single = ad_engine.explain(expression)
        assert explained.count == single.count
        assert explained.normalized_expression == single.normalized_expression
        assert explained.root.op == "fan-out" and len(explained.root.children) == 3
        assert sum(c.cardinality for c in explained.root.children) == single.count


@pytest.mark.parametrize("expression", FIXED)
def test_profiles_equal_one_node(client: Client, ad_engine: Engine, expression: str) -> None:
    for top_k in (3, 0):
        got = client.profile(expression, dimensions=DIMENSIONS, top_k=top_k)
        want = convert.profile(ad_engine.profile(expression, dimensions=DIMENSIONS, top_k=top_k))
        want.snapshot_version = got.snapshot_version
        assert got == want
    everything = client.profile(expression)
    want = convert.profile(ad_engine.profile(expression))
    want.snapshot_version = everything.snapshot_version
    assert everything == want


@pytest.mark.parametrize("page_size", [1, 7, 500])
def test_export_pages_hold_the_audience_once_in_full_pages(client: Client, ad_engine: Engine,
                                                           page_size: int) -> None:
    expression = "gender=F AND NOT vip=true"
    pages = list(client.export_pages(expression, page_size=page_size))
    ids = [u for p in pages for u in p.user_ids]
    want = [u for p in ad_engine.export_pages(expression, page_size=1000) for u in p.user_ids]
    assert sorted(ids) == sorted(want) and len(ids) == len(set(ids))
    assert all(len(p.user_ids) == page_size for p in pages[:-1]) and pages[-1].next_page_token == ""
    assert {p.total_count for p in pages} == {len(want)}
    # a token resumes the export where it stopped, with the same order as before
    if len(pages) > 2:
        resumed = list(client.export_pages(expression, page_size=page_size, page_token=pages[1].next_page_token))
        assert [u for p in resumed for u in p.user_ids] == [u for p in pages[2:] for u in p.user_ids]


@pytest.mark.parametrize("page_size", [7, 500])
def test_int64_export_pages_equal_text_pages_and_one_node(client: Client, ad_engine: Engine, page_size: int) -> None:
    expression = "gender=F AND NOT vip=true"
    text = list(client.export_pages(expression, page_size=page_size))
    ints = list(client.export_pages(expression, page_size=page_size, id_encoding=aud_pb.ID_ENCODING_INT64))
    assert [p.next_page_token for p in ints] == [p.next_page_token for p in text]
    assert [list(p.int_user_ids) for p in ints] == [[int(u) for u in p.user_ids] for p in text]
    node = [int(u) for p in ad_engine.export_pages(expression, page_size=1000) for u in p.user_ids]
    assert sorted(int(u) for p in ints for u in p.int_user_ids) == sorted(node)


def test_unary_pages_walk_a_cluster_audience_like_one_node(client: Client, ad_engine: Engine) -> None:
    expression = "gender=F AND NOT vip=true"
    streamed = list(client.export_pages(expression, page_size=300, id_encoding=aud_pb.ID_ENCODING_INT64))
    token, pages = "", []
    while True:
        pages.append(client.export_page(expression, page_size=300, page_token=token, integers=True))
        token = pages[-1].next_page_token
        if not token:
            break
    assert [list(p.int_user_ids) for p in pages] == [list(p.int_user_ids) for p in streamed]
    assert [p.next_page_token for p in pages] == [p.next_page_token for p in streamed]
    node = [int(u) for p in ad_engine.export_pages(expression, page_size=1000) for u in p.user_ids]
    assert sorted(u for p in pages for u in p.int_user_ids) == sorted(node) and pages[0].total_count == len(node)


def test_tampered_and_foreign_tokens_are_refused(client: Client) -> None:
    first = next(iter(client.export_pages("gender=F", page_size=5)))
    token = first.next_page_token
    bad = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    with pytest.raises(DolphinError, match="invalid page token"):
        list(client.export_pages("gender=F", page_size=5, page_token=bad))
    with pytest.raises(DolphinError, match="different request"):
        list(client.export_pages("gender=M", page_size=5, page_token=token))


def test_name_errors_equal_one_node(client: Client, ad_engine: Engine) -> None:
    for expression in ["gendr=F", "gender=F AND Citty=x", "event(nope)", "event(click, campaign=zz)",
                       "event(click, from=2026-12-01, to=2026-11-01)", "gender=(", ""]:
        want = single_error(lambda e=expression: ad_engine.count(e))
        assert want is not None
        with pytest.raises(DolphinError) as got:
            client.count(expression)
        assert type(got.value) is want
        try:
            ad_engine.count(expression)
        except DolphinError as exc:
            assert str(got.value) == str(exc)
    with pytest.raises(UnknownDimensionError, match='did you mean "gender"'):
        client.profile("ALL", dimensions=["Gender"])
    with pytest.raises(NotFoundError):
        list(client.list_dimensions(dimension="nope"))
    assert issubclass(UnknownDimensionError, QueryError)


def test_catalog_equals_one_node(client: Client, ad_engine: Engine) -> None:
    got = list(client.list_dimensions(max_values=5))
    want = list(convert.dimensions(ad_engine.list_dimensions(max_values=5)).dimensions)
    for d in got + want:  # a numeric field's index bytes are the shards' own slices added up, not one node's
        if d.HasField("numeric"):
            d.numeric.ClearField("index_bytes")
    assert got == want
    campaigns = list(client.list_campaigns())
    names, _, version = ad_engine.list_campaign_names()
    assert campaigns == list(convert.campaigns(names, ad_engine.list_campaigns(), "", version).campaigns)


@pytest.mark.parametrize("audience", ["", "gender=F", "NOT vip=true"])
def test_ad_effect_equals_one_node(client: Client, ad_engine: Engine, audience: str) -> None:
    stages = ["impression", "click", "conversion"]
    got = client.funnel("c1", stages, "2026-11-01", "2026-11-10", audience_expression=audience,
                        breakdown_dimension="city", top_k=5)
    want = convert.funnel(ad_engine.funnel("c1", stages, "2026-11-01", "2026-11-10", audience_expression=audience,
                                           breakdown_dimension="city", top_k=5))
    want.snapshot_version = got.snapshot_version
    assert got == want
    lift = client.lift("c1", "impression", "conversion", "2026-11-01", "2026-11-10", audience_expression=audience)
    want_lift = convert.lift(ad_engine.lift("c1", "impression", "conversion", "2026-11-01", "2026-11-10",
                                            audience_expression=audience))
    want_lift.snapshot_version = lift.snapshot_version
    assert lift == want_lift
    trend = client.trend(["click", "conversion"], "2026-11-01", "2026-11-10", campaign="c2",
                         audience_expression=audience)
    series, _ = ad_engine.trend("c2", ["click", "conversion"], "2026-11-01", "2026-11-10",
                                audience_expression=audience)
    assert [(s.event, list(s.days), list(s.counts)) for s in trend.series] == [
        (s.event, s.days, s.counts) for s in series]
    retention = client.retention("c1", "impression", "conversion", "2026-11-01", end_date="2026-11-05", days=3)
    rows, _ = ad_engine.retention("c1", "impression", "conversion", "2026-11-01", "2026-11-05", days=3)
    assert [(r.day, r.cohort, list(r.returned)) for r in retention.rows] == [
        (r.day, r.cohort, r.returned) for r in rows]


def test_saved_audiences_work_everywhere(client: Client, ad_engine: Engine) -> None:
    saved = client.save_audience("f_tennis", "gender=F AND interest=tennis", overwrite=True)
    assert saved.count == ad_engine.count("gender=F AND interest=tennis").count
    assert client.count("@f_tennis AND NOT vip=true") == ad_engine.count(
        "gender=F AND interest=tennis AND NOT vip=true").count
    assert client.get_audience("f_tennis").count == saved.count
    assert "f_tennis" in [a.name for a in client.list_audiences()]
    client.delete_audience("f_tennis")
    with pytest.raises(DolphinError, match="not found"):
        client.count("@f_tennis")
    with pytest.raises(DolphinError, match="not found"):
        client.delete_audience("f_tennis")


def test_split_picks_the_users_one_node_picks(client: Client, ad_engine: Engine) -> None:
    shares = {"test": 0.7, "holdout": 0.3}
    split = client.split("gender=F", "cluster_ab", shares, salt="s9")
    single = ad_engine.split("gender=F", "single_ab", list(shares.items()), salt="s9")
    assert [a.count for a in split.audiences] == [a.count for a in single]
    for part in shares:
        want = {u for p in ad_engine.export_pages(f"@single_ab.{part}", page_size=1000) for u in p.user_ids}
        assert set(client.export(f"@cluster_ab.{part}")) == want


def test_status_adds_up_the_shards(client: Client, ad_engine: Engine) -> None:
    status = client.status()
    assert status.users == ad_engine.status().users
    assert status.dimensions == ad_engine.status().dimensions
    assert [s.shard for s in status.shards] == [0, 1, 2]
    assert sum(s.users for s in status.shards) == status.users
    assert sum(s.bitmap_bytes for s in status.shards) == status.bitmap_bytes
    assert all(s.rss_bytes > 0 and s.address for s in status.shards)
    # each shard's read caches get 2.5 bytes per user of its own (rounded down per shard)
    assert 0 <= ad_engine.status().read_cache_limit_bytes - status.read_cache_limit_bytes <= len(status.shards)


def test_deadline_holds(stub: aud_grpc.AudienceServiceStub) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        stub.Profile(aud_pb.ProfileRequest(expression="ALL"), timeout=0.0005)
    assert caught.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED


_ = (st, ad_pb)


def test_the_http_api_of_a_front_answers_like_one_node(front: Front, ad_engine: Engine) -> None:
    """The HTTP API sits on the same servicers, so a cluster front serves it too, over shards."""
    import json
    import urllib.error
    import urllib.request

    def post(method: str, body: dict[str, object]) -> tuple[int, dict[str, object]]:
        request = urllib.request.Request(f"http://127.0.0.1:{front.http_port}/v1/dolphin.v1.{method}",
                                         data=json.dumps(body).encode())
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    expression = "gender=F AND NOT vip=true"
    status, counted = post("AudienceService/Count", {"expression": expression})
    assert status == 200 and int(str(counted["count"])) == ad_engine.count(expression).count
    status, funnel = post("AdEffectService/Funnel", {"campaign": "c1", "stages": ["impression", "click"],
                                                     "startDate": "2026-11-01", "endDate": "2026-11-10"})
    local = ad_engine.funnel("c1", ["impression", "click"], "2026-11-01", "2026-11-10")
    assert [int(str(s["count"])) for s in funnel["stages"]] == [s.count for s in local.stages]  # type: ignore[index,union-attr]
    status, error = post("AudienceService/Count", {"expression": "citty=x"})
    assert status == 400 and error["details"] == {"name": "citty", "position": "1:1", "suggestion": "city"}
