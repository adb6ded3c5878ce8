"""The real server through dolphin.Client: every RPC, congruent with the in-process engine, and bad inputs."""

from __future__ import annotations

import re

import pytest

from dolphin import errors
from dolphin.client import Client
from dolphin.engine import Engine
from tests.conftest import Oracle, RunningServer

pytestmark = pytest.mark.e2e

EXPRESSIONS = [
    "gender=F AND city IN (Hangzhou, Shanghai) AND interest=tennis AND NOT vip=true",
    "gender=F AND interest=tennis",
    "city NOT IN (Hangzhou, Shanghai) OR member_level=gold",
    "NOT ALL",
    "ALL",
    'city="杭州" OR city="Xi\'an"',
    "interest=no_such_value",
]


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_count_congruent_with_engine(client: Client, engine: Engine, expression: str) -> None:
    assert client.count(expression) == engine.count(expression).count


def test_batch_count_overlap_explain(client: Client, engine: Engine) -> None:
    assert client.batch_count(EXPRESSIONS) == engine.batch_count(EXPRESSIONS).counts
    response = client.overlap(EXPRESSIONS[:3])
    local = engine.overlap(EXPRESSIONS[:3])
    assert list(response.counts) == local.counts
    assert [(p.first, p.second, p.count) for p in response.intersections] == local.pairs
    plan = client.explain(EXPRESSIONS[0])
    assert plan.count == engine.count(EXPRESSIONS[0]).count
    assert plan.root.op == "andnot" and len(plan.root.children) == 4
    sizes = [c.cardinality for c in plan.root.children[:3]]
    assert sizes == sorted(sizes)  # smallest first


def test_profile_against_brute_force(client: Client, oracle: Oracle) -> None:
    expression = "gender=F AND interest=tennis"
    audience = oracle.tag("gender", "F") & oracle.tag("interest", "tennis")
    response = client.profile(expression, dimensions=["city", "interest", "vip"], top_k=5)
    assert response.audience_count == len(audience)
    assert response.population_count == len(oracle.population)
    for dim in response.dimensions:
        truth = {v: len(users & audience) for (d, v), users in oracle.tags.items() if d == dim.dimension}
        truth = {v: c for v, c in truth.items() if c}
        expected = sorted(truth.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
        assert [(v.value, v.count) for v in dim.values] == expected
        assert dim.value_count == len(truth)
        for v in dim.values:
            population_share = len(oracle.tag(dim.dimension, v.value)) / len(oracle.population)
            assert v.share == pytest.approx(v.count / len(audience))
            assert v.population_share == pytest.approx(population_share)
            assert v.tgi == pytest.approx(100 * v.share / population_share)


def test_export_pages_resume_and_match(client: Client, oracle: Oracle) -> None:
    expression = "city IN (Hangzhou, Shanghai)"
    truth = oracle.tag("city", "Hangzhou") | oracle.tag("city", "Shanghai")
    first = list(client.export_pages(expression, page_size=100, max_pages=2))
    assert len(first) == 2 and all(len(p.user_ids) == 100 for p in first)
    rest = list(client.export_pages(expression, page_size=100, page_token=first[-1].next_page_token))
    ids = [u for p in first + rest for u in p.user_ids]
    assert len(ids) == len(set(ids)) == len(truth) and set(ids) == truth
    assert rest[-1].next_page_token == "" and rest[-1].total_count == len(truth)
    assert list(client.export(expression, page_size=333)) == ids  # stable order


def test_saved_audience_lifecycle(client: Client, oracle: Oracle) -> None:
    saved = client.save_audience("tennis_f", "gender=F AND interest=tennis")
    truth = oracle.tag("gender", "F") & oracle.tag("interest", "tennis")
    assert saved.count == len(truth) and saved.created_at.seconds > 0
    assert client.count("@tennis_f AND vip=true") == len(truth & oracle.tag("vip", "true"))
    assert client.get_audience("tennis_f").expression == "gender=F AND interest=tennis"
    assert "tennis_f" in [a.name for a in client.list_audiences()]
    with pytest.raises(errors.AudienceExistsError, match="pass overwrite=true"):
        client.save_audience("tennis_f", "ALL")
    assert client.save_audience("tennis_f", "ALL", overwrite=True).count == len(oracle.population)
    client.delete_audience("tennis_f")
    with pytest.raises(errors.AudienceNotFoundError, match='audience "@tennis_f" not found'):
        client.count("@tennis_f")
    with pytest.raises(errors.AudienceNotFoundError):
        client.delete_audience("tennis_f")


def test_catalog_and_status(client: Client, oracle: Oracle) -> None:
    dims = {d.name: d for d in client.list_dimensions(max_values=3)}
    assert set(dims) == set(oracle.kinds)
    city = dims["city"]
    assert city.kind == 1 and dims["interest"].kind == 2  # SINGLE, MULTI
    truth = sorted(((v, len(u)) for (d, v), u in oracle.tags.items() if d == "city"), key=lambda kv: (-kv[1], kv[0]))
    assert [(v.value, v.count) for v in city.values] == truth[:3]
    assert city.user_count == len(oracle.any_of("city"))
    status = client.status()
    assert status.users == len(oracle.population) and status.tags == len(oracle.tags)
    assert status.snapshot_version >= 1 and status.rss_bytes > 0


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda c: c.count("(gender=F AND interest=tennis"), errors.QuerySyntaxError, "1:30: expected ')'"),
    (lambda c: c.count("citty=Hangzhou"), errors.UnknownDimensionError, 'did you mean "city"'),
    (lambda c: c.count("gеnder=F"), errors.UnknownDimensionError, 'did you mean "gender"'),
    (lambda c: c.count(""), errors.QuerySyntaxError, "expected an expression"),
    (lambda c: c.count("(" * 40 + "a=1" + ")" * 40), errors.QueryLimitError, "nesting depth"),
    (lambda c: c.count("a=1 OR " * 600 + "a=1"), errors.QueryLimitError, "term count"),
    (lambda c: c.count("@nonexistent"), errors.AudienceNotFoundError, "not found"),
    (lambda c: c.count("@../../etc/passwd"), errors.QuerySyntaxError, "expected"),
    (lambda c: c.batch_count(["ALL"] * 300), errors.QueryLimitError, "the limit is 256"),
    (lambda c: c.overlap(["ALL"]), errors.InvalidArgumentError, "at least 2"),
    (lambda c: c.profile("ALL", top_k=-1), errors.InvalidArgumentError, "must not be negative"),
    (lambda c: c.profile("ALL", top_k=10**9), errors.QueryLimitError, "top_k"),
    (lambda c: c.profile("ALL", dimensions=["citty"]), errors.UnknownDimensionError, "city"),
    (lambda c: list(c.export_pages("ALL", page_size=-1)), errors.InvalidArgumentError, "negative"),
    (lambda c: list(c.export_pages("ALL", page_size=2**31 - 1)), errors.QueryLimitError, "page size"),
    (lambda c: list(c.export_pages("ALL", page_token="garbage!")), errors.InvalidPageTokenError, "page token"),
    (lambda c: c.save_audience("../x", "ALL"), errors.InvalidArgumentError, "is not valid"),
    (lambda c: c.save_audience("", "ALL"), errors.InvalidArgumentError, "is not valid"),
    (lambda c: c.get_audience("nope"), errors.AudienceNotFoundError, "not found"),
    (lambda c: list(c.list_dimensions(dimension="citty")), errors.NotFoundError, "did you mean"),
])
def test_bad_input_is_a_typed_error(client: Client, call, error, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error, match=re.escape(message)):
        call(client)
    assert client.count("ALL") > 0  # and the server is fine


def test_page_token_bound_to_expression(client: Client) -> None:
    page = next(client.export_pages("gender=F", page_size=10))
    with pytest.raises(errors.InvalidPageTokenError, match="different request"):
        list(client.export_pages("gender=M", page_size=10, page_token=page.next_page_token))
    tampered = page.next_page_token[:-2] + ("A" if page.next_page_token[-2] != "A" else "B") + page.next_page_token[-1]
    with pytest.raises(errors.InvalidPageTokenError):
        list(client.export_pages("gender=F", page_size=10, page_token=tampered))
    first_byte = ("B" if page.next_page_token[0] != "B" else "C") + page.next_page_token[1:]
    with pytest.raises(errors.InvalidPageTokenError, match="altered or not issued"):  # was "from snapshot N"
        list(client.export_pages("gender=F", page_size=10, page_token=first_byte))


def test_deadline_is_honoured(client: Client) -> None:
    with pytest.raises(errors.DeadlineError):
        client.profile("ALL", timeout=0.000001)


def test_unavailable_before_first_snapshot(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "data").mkdir()
    server = RunningServer(tmp_path / "data", wait=False)
    try:
        with Client(server.target, retries=0) as c:
            with pytest.raises(errors.NotReadyError, match="no snapshot loaded yet"):
                c.count("ALL")
            assert c.status().snapshot_version == 0
    finally:
        assert server.stop() == 0


@pytest.mark.parametrize(("method", "expression", "message"), [
    ("Count", '"\\uD800"=x', "1:2: expected a low surrogate"),
    ("Count", 'event("\\uD800")', "1:8: expected a low surrogate"),
    ("Explain", 'city="\\uD800"', "1:7: expected a low surrogate"),
    ("Count", 'city="\\uDC00"', "1:7: expected a character, not a lone low surrogate"),
])
def test_lone_surrogate_escapes_are_answered_invalid_argument(server: RunningServer, method: str, expression: str,
                                                              message: str) -> None:
    """These once raised UnicodeEncodeError while the status was built: the call was never answered."""
    import time

    import grpc

    from dolphin.v1 import audience_service_pb2 as pb
    from dolphin.v1 import audience_service_pb2_grpc as rpc

    request = pb.CountRequest(expression=expression) if method == "Count" else pb.ExplainRequest(expression=expression)
    with grpc.insecure_channel(server.target) as channel:
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as info:
            getattr(rpc.AudienceServiceStub(channel), method)(request, timeout=20)
        assert time.monotonic() - started < 19  # answered, not ended by the deadline
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details().startswith(message)


@pytest.mark.parametrize("expression", ["(gender=F AND interest=tennis", "gender=F AND\n  citty=Hangzhou", "citty=x",
                                        "gender=F OR (vip=true AND", ""])
def test_error_details_travel_with_the_status(client: Client, engine: Engine, expression: str) -> None:
    """A program (the console) gets the position and the suggestion as fields, the same over gRPC as in process."""
    with pytest.raises(errors.QueryError) as local:
        engine.count(expression)
    with pytest.raises(errors.QueryError) as remote:
        client.count(expression)
    assert type(remote.value) is type(local.value)
    assert remote.value.details() == local.value.details()
    assert re.fullmatch(r"\d+:\d+", local.value.details().get("position", "")), local.value.details()
    assert str(local.value).startswith(local.value.details()["position"])
