"""The HTTP/JSON API against the gRPC API of the same real server: same answers, same errors, same roles."""

from __future__ import annotations

import json
import pathlib
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pool, json_format, message_factory

from dolphin.server.http_context import HTTP_STATUS
from tests.conftest import RunningServer, free_port

pytestmark = pytest.mark.e2e
TOKENS = {"reader": "reader-" + "r" * 20, "writer": "writer-" + "w" * 20, "admin": "admin-" + "a" * 20}
# Figures that differ from one call to the next (timings, memory): everything else must be equal.
VOLATILE = {"elapsedUs", "elapsedMs", "uptimeSeconds", "rssBytes", "secondsSinceLastBatch", "createdAt"}
WEEK = {"startDate": "2026-11-01", "endDate": "2026-11-07"}

# Every read-only unary RPC, with requests that succeed and requests that fail, sent through both APIs.
READS: dict[str, list[dict[str, Any]]] = {
    "/dolphin.v1.AudienceService/Count": [
        {"expression": "gender=F AND city IN (Hangzhou, Shanghai) AND NOT vip=true"},
        {"expression": "gender=F AND ("}, {"expression": "citty=Hangzhou"}, {"expression": "a=1 OR " * 600 + "a=1"},
        {"expression": "@missing"}],
    "/dolphin.v1.AudienceService/BatchCount": [{"expressions": ["gender=F", "vip=true", "ALL"]},
                                               {"expressions": ["gender=F", "nope=1"]}],
    "/dolphin.v1.AudienceService/Profile": [{"expression": "gender=F", "dimensions": ["city", "age_band"], "topK": 5},
                                            {"expression": "gender=F", "dimensions": ["citty"]}],
    "/dolphin.v1.AudienceService/Overlap": [{"expressions": ["gender=F", "vip=true", "interest=tennis"]},
                                            {"expressions": ["gender=F"]}],
    "/dolphin.v1.AudienceService/Explain": [{"expression": "gender=F AND NOT vip=true"}],
    "/dolphin.v1.AudienceService/ExportPage": [
        {"expression": "gender=F", "pageSize": 5}, {"expression": "ALL", "pageToken": "xyz"},
        {"expression": "vip=true", "pageSize": 3, "idEncoding": "ID_ENCODING_INT64"}],
    "/dolphin.v1.AudienceService/GetAudience": [{"name": "women"}, {"name": "missing"}],
    "/dolphin.v1.AudienceService/Aggregate": [
        {"expression": "gender=F", "fields": ["spend"], "percentiles": [50, 90, 99], "cutPoints": ["10", "100"]},
        {"expression": "ALL", "fields": ["spend"], "statistics": ["STATISTIC_SUM", "STATISTIC_MEAN"]},
        {"expression": "ALL", "fields": ["gender"]}, {"expression": "spend < abc", "fields": ["spend"]}],
    "/dolphin.v1.AudienceService/ListAudiences": [{}],
    "/dolphin.v1.CatalogService/ListDimensions": [{}, {"dimension": "city", "maxValues": 3}, {"dimension": "nope"}],
    "/dolphin.v1.CatalogService/ListCampaigns": [{}],
    "/dolphin.v1.AdminService/Status": [{}],
    "/dolphin.v1.AdminService/Reload": [{}],
    "/dolphin.v1.AdEffectService/Funnel": [
        {"campaign": "c1", "stages": ["impression", "click", "conversion"], **WEEK},
        {"campaign": "c1", "stages": ["impression", "click"], "breakdownDimension": "gender", **WEEK},
        {"campaign": "nope", "stages": ["impression"], **WEEK}],
    "/dolphin.v1.AdEffectService/Lift": [
        {"campaign": "c1", "exposureEvent": "impression", "outcomeEvent": "conversion", **WEEK}],
    "/dolphin.v1.AdEffectService/Retention": [
        {"campaign": "c1", "cohortEvent": "impression", "returnEvent": "click", "startDate": "2026-11-01", "days": 3}],
    "/dolphin.v1.AdEffectService/Trend": [{"campaign": "c2", "events": ["impression", "click"], **WEEK},
                                          {"campaign": "c2", "events": ["click"], "startDate": "2026-13-01"}],
    "/dolphin.v1.LookalikeService/Lookalike": [{"seedExpression": "vip=true", "k": 50},
                                               {"seedExpression": "vip=true", "k": 10_000_000}],
    "/dolphin.v1.IngestService/GetOffsets": [{}],
    "/grpc.health.v1.Health/Check": [{"service": ""}, {"service": "no.such.Service"}],
}
# RPCs that change state, checked by the sequences below.
WRITES = {"/dolphin.v1.AudienceService/SaveAudience", "/dolphin.v1.AudienceService/DeleteAudience",
          "/dolphin.v1.AdEffectService/Split", "/dolphin.v1.AdminService/Checkpoint",
          "/dolphin.v1.AudienceService/Export"}


@dataclass
class Reply:
    """One call's outcome through either API."""

    code: str  # gRPC status name; OK on success
    body: Any  # the response as proto3 JSON, or the error message
    error_class: str = ""


def _classes(path: str) -> tuple[Any, Any]:
    service, _, name = path.strip("/").partition("/")
    method = descriptor_pool.Default().FindServiceByName(service).methods_by_name[name]
    return message_factory.GetMessageClass(method.input_type), message_factory.GetMessageClass(method.output_type)


def stable(value: Any) -> Any:
    """Return a JSON value without the VOLATILE figures."""
    if isinstance(value, dict):
        return {k: stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [stable(v) for v in value]
    return value


def http(server: RunningServer, path: str, body: bytes | dict[str, Any] | None = None, *, token: str = "",
         method: str = "POST", headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """Return status, headers and body of one HTTP call."""
    data = body if isinstance(body, bytes) else None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(server.http_url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def http_reply(server: RunningServer, path: str, request: dict[str, Any], token: str = "") -> Reply:
    status, headers, raw = http(server, f"/v1{path}", request, token=token)
    body = json.loads(raw)
    assert headers["Content-Type"].startswith("application/json")
    if status == 200:
        return Reply("OK", stable(body))
    assert status == HTTP_STATUS[grpc.StatusCode[body["status"]]], body
    assert body["code"] == grpc.StatusCode[body["status"]].value[0]
    assert headers.get("dolphin-error", "") == body.get("errorClass", "")
    return Reply(body["status"], body["message"], body.get("errorClass", ""))


def grpc_reply(server: RunningServer, path: str, request: dict[str, Any], token: str = "") -> Reply:
    request_class, response_class = _classes(path)
    message = json_format.Parse(json.dumps(request), request_class())
    with grpc.insecure_channel(server.target) as channel:
        call = channel.unary_unary(path, request_serializer=request_class.SerializeToString,
                                   response_deserializer=response_class.FromString)
        try:
            response = call(message, metadata=(("authorization", f"Bearer {token}"),) if token else None, timeout=30)
        except grpc.RpcError as error:
            trailers = dict(error.trailing_metadata() or ())  # type: ignore[attr-defined]
            return Reply(error.code().name, error.details(), trailers.get("dolphin-error", ""))  # type: ignore[attr-defined]
    return Reply("OK", stable(json_format.MessageToDict(response, always_print_fields_with_no_presence=True)))


def export_over_http(server: RunningServer, request: dict[str, Any], token: str = "") -> list[dict[str, Any]]:
    status, headers, raw = http(server, "/v1/dolphin.v1.AudienceService/Export", request, token=token)
    assert status == 200, raw
    assert headers["Content-Type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in raw.decode().splitlines()]


def export_over_grpc(server: RunningServer, request: dict[str, Any], token: str = "") -> list[dict[str, Any]]:
    request_class, response_class = _classes("/dolphin.v1.AudienceService/Export")
    with grpc.insecure_channel(server.target) as channel:
        call = channel.unary_stream("/dolphin.v1.AudienceService/Export",
                                    request_serializer=request_class.SerializeToString,
                                    response_deserializer=response_class.FromString)
        pages = call(json_format.Parse(json.dumps(request), request_class()),
                     metadata=(("authorization", f"Bearer {token}"),) if token else None, timeout=30)
        return [json_format.MessageToDict(p, always_print_fields_with_no_presence=True) for p in pages]


@pytest.fixture(scope="module")
def full_world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    from tests.worlds import build_full_world

    return build_full_world(tmp_path_factory.mktemp("http-world"))


def _serve(world: dict[str, object], where: pathlib.Path, *extra: str) -> RunningServer:
    shutil.copytree(world["data"], where)  # type: ignore[arg-type]
    return RunningServer(where, "--http-port", str(free_port()), *extra)


@pytest.fixture(scope="module")
def open_server(full_world: dict[str, object], tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = _serve(full_world, tmp_path_factory.mktemp("open") / "data")
    saved = grpc_reply(running, "/dolphin.v1.AudienceService/SaveAudience", {"name": "women", "expression": "gender=F"})
    assert saved.code == "OK", saved
    yield running
    running.stop()


@pytest.fixture(scope="module")
def token_server(full_world: dict[str, object], tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("secured")
    (root / "tokens").write_text("".join(f"{t} {r}\n" for r, t in TOKENS.items()))
    running = _serve(full_world, root / "data", "--auth-tokens", str(root / "tokens"))
    yield running
    running.stop()


def test_every_route_is_covered(open_server: RunningServer) -> None:
    status, _, raw = http(open_server, "/v1/openapi.json", method="GET")
    assert status == 200
    paths = {p.removeprefix("/v1") for p in json.loads(raw)["paths"]}
    assert paths == set(READS) | WRITES
    assert "/dolphin.v1.ShardService/ValueCounts" not in paths  # the cluster's own protocol stays gRPC
    assert "/dolphin.v1.IngestService/Mutate" not in paths  # client streaming has no JSON twin


@pytest.mark.parametrize(("path", "request_json"), [(p, r) for p, rs in READS.items() for r in rs],
                         ids=lambda v: v if isinstance(v, str) else None)
def test_same_answers_and_errors(open_server: RunningServer, path: str, request_json: dict[str, Any]) -> None:
    over_grpc = grpc_reply(open_server, path, request_json)
    over_http = http_reply(open_server, path, request_json)
    assert over_http == over_grpc


def test_reads_cover_success_and_failure(open_server: RunningServer) -> None:
    """The table above exercises real answers, not only errors, for every method it lists."""
    for path, requests in READS.items():
        codes = [http_reply(open_server, path, r).code for r in requests]
        assert "OK" in codes, (path, codes)


def test_export_pages_match(open_server: RunningServer) -> None:
    request = {"expression": "gender=F AND NOT vip=true", "pageSize": 97}
    lines = export_over_http(open_server, request)
    pages = export_over_grpc(open_server, request)
    assert [line["result"] for line in lines] == pages
    assert len(pages) > 2
    ids = [u for page in pages for u in page["userIds"]]
    assert len(ids) == len(set(ids)) == int(pages[0]["totalCount"])
    integers = export_over_http(open_server, {**request, "idEncoding": "ID_ENCODING_INT64", "maxPages": 2})
    assert [u for line in integers for u in line["result"]["intUserIds"]] == ids[:2 * 97]
    assert http_reply(open_server, "/dolphin.v1.AudienceService/Export", {"expression": "ALL", "pageToken": "xyz"}) \
        == grpc_reply_stream_error(open_server, {"expression": "ALL", "pageToken": "xyz"})


def grpc_reply_stream_error(server: RunningServer, request: dict[str, Any]) -> Reply:
    try:
        export_over_grpc(server, request)
    except grpc.RpcError as error:
        trailers = dict(error.trailing_metadata() or ())  # type: ignore[attr-defined]
        return Reply(error.code().name, error.details(), trailers.get("dolphin-error", ""))  # type: ignore[attr-defined]
    raise AssertionError("the export should have failed")


def test_saved_audiences_and_split_across_apis(open_server: RunningServer) -> None:
    save = "/dolphin.v1.AudienceService/SaveAudience"
    saved = http_reply(open_server, save, {"name": "from_http", "expression": "gender=F AND vip=true"})
    assert saved.code == "OK"
    assert grpc_reply(open_server, "/dolphin.v1.AudienceService/GetAudience", {"name": "from_http"}) == saved
    again = {"name": "from_http", "expression": "gender=M"}
    assert http_reply(open_server, save, again) == grpc_reply(open_server, save, again)  # exists: same error
    count = grpc_reply(open_server, "/dolphin.v1.AudienceService/Count", {"expression": "@from_http"})
    assert count.body["count"] == saved.body["count"]
    split = {"expression": "@from_http", "name": "ab", "shares": [{"name": "a", "share": 0.5},
                                                                  {"name": "b", "share": 0.5}]}
    parts = http_reply(open_server, "/dolphin.v1.AdEffectService/Split", split)
    assert parts.code == "OK"
    assert sum(int(a["count"]) for a in parts.body["audiences"]) == int(saved.body["count"])
    deleted = http_reply(open_server, "/dolphin.v1.AudienceService/DeleteAudience", {"name": "from_http"})
    assert deleted.code == "OK"
    gone = {"name": "from_http"}
    assert grpc_reply(open_server, "/dolphin.v1.AudienceService/GetAudience", gone).code == "NOT_FOUND"
    assert http_reply(open_server, "/dolphin.v1.AudienceService/DeleteAudience", gone) == grpc_reply(
        open_server, "/dolphin.v1.AudienceService/DeleteAudience", gone)


def test_checkpoint(open_server: RunningServer) -> None:
    done = http_reply(open_server, "/dolphin.v1.AdminService/Checkpoint", {})
    assert done.code == "OK"
    status = grpc_reply(open_server, "/dolphin.v1.AdminService/Status", {})
    assert status.body["snapshotVersion"] == done.body["snapshotVersion"]


ROLE_CALLS = {
    "reader": ("/dolphin.v1.AudienceService/Count", {"expression": "gender=F"}),
    "writer": ("/dolphin.v1.AudienceService/SaveAudience", {"name": "by_role", "expression": "gender=F",
                                                            "overwrite": True}),
    "admin": ("/dolphin.v1.AdminService/Reload", {}),
}


@pytest.mark.parametrize("token_role", [*TOKENS, "none", "unknown"])
@pytest.mark.parametrize("needed", list(ROLE_CALLS))
def test_tokens_and_roles(token_server: RunningServer, token_role: str, needed: str) -> None:
    token = TOKENS.get(token_role, "" if token_role == "none" else "not-a-token-" + "x" * 20)
    path, request = ROLE_CALLS[needed]
    over_http = http_reply(token_server, path, request, token)
    assert over_http == grpc_reply(token_server, path, request, token)
    order = list(TOKENS)
    if token_role not in TOKENS:
        assert over_http.code == "UNAUTHENTICATED"
    elif order.index(token_role) < order.index(needed):
        assert over_http.code == "PERMISSION_DENIED" and f"needs the {needed} role" in over_http.body
    else:
        assert over_http.code == "OK"


def test_roles_inside_a_call_and_open_health(token_server: RunningServer) -> None:
    save_as = {"seedExpression": "vip=true", "k": 20, "saveAs": "look"}
    path = "/dolphin.v1.LookalikeService/Lookalike"
    denied = http_reply(token_server, path, save_as, TOKENS["reader"])
    assert denied == grpc_reply(token_server, path, save_as, TOKENS["reader"])
    assert denied.code == "PERMISSION_DENIED" and denied.error_class == "RoleError"
    assert http_reply(token_server, path, save_as, TOKENS["writer"]).code == "OK"
    assert http_reply(token_server, "/grpc.health.v1.Health/Check", {}).body == {"status": "SERVING"}
    lines = export_over_http(token_server, {"expression": "vip=true", "pageSize": 50}, TOKENS["reader"])
    assert [line["result"] for line in lines] == export_over_grpc(
        token_server, {"expression": "vip=true", "pageSize": 50}, TOKENS["reader"])
    status, _, raw = http(token_server, "/v1/dolphin.v1.AudienceService/Export", {"expression": "ALL"})
    assert status == 401 and json.loads(raw)["status"] == "UNAUTHENTICATED"
    document = json.loads(http(token_server, "/v1/openapi.json", method="GET")[2])
    count = document["paths"]["/v1/dolphin.v1.AudienceService/Count"]["post"]
    assert count["security"] == [{"bearer": []}] and count["x-dolphin-role"] == "reader"


@pytest.mark.parametrize(("body", "status", "message"), [
    (b"{not json", 400, "request body is not a dolphin.v1.CountRequest in the proto3 JSON mapping"),
    (b'{"expresion": "gender=F"}', 400, 'no field named "expresion"'),
    (b'{"expression": 5}', 400, "expression"),
    (b'["gender=F"]', 400, "dolphin.v1.CountRequest"),
    (b"\xff\xfe", 400, "proto3 JSON mapping"),
])
def test_bad_bodies(open_server: RunningServer, body: bytes, status: int, message: str) -> None:
    got, headers, raw = http(open_server, "/v1/dolphin.v1.AudienceService/Count", body)
    error = json.loads(raw)
    assert got == status and error["status"] == "INVALID_ARGUMENT" and message in error["message"], error
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_empty_body_is_the_empty_request(open_server: RunningServer) -> None:
    status, _, raw = http(open_server, "/v1/dolphin.v1.AdminService/Status", b"")
    assert status == 200 and int(json.loads(raw)["users"]) > 0


def test_paths_methods_sizes_and_deadlines(open_server: RunningServer) -> None:
    status, _, raw = http(open_server, "/v1/dolphin.v1.AudienceService/Nope", {})
    assert status == 404 and "openapi.json" in json.loads(raw)["message"]
    status, _, raw = http(open_server, "/console/nope.js", method="GET")
    assert status == 404 and json.loads(raw)["status"] == "NOT_FOUND"
    status, headers, raw = http(open_server, "/v1/dolphin.v1.AudienceService/Count", method="GET")
    assert status == 405 and headers["Allow"] == "POST"
    huge = json.dumps({"expression": "gender=F OR " * 3_000_000 + "gender=F"}).encode()  # over 8 x 4 MiB
    status, _, raw = http(open_server, "/v1/dolphin.v1.AudienceService/Count", huge)
    assert status == 413 and json.loads(raw)["status"] == "RESOURCE_EXHAUSTED"
    big = {"expressions": ["gender=F OR gender=M"] * 250_000}  # under the JSON limit, over 4 MB as protobuf
    status, _, raw = http(open_server, "/v1/dolphin.v1.AudienceService/BatchCount", big)
    assert status == 429 and "max_message_bytes" in json.loads(raw)["message"]
    count = {"expression": "gender=F"}
    status, _, raw = http(open_server, "/v1/dolphin.v1.AudienceService/Count", count, headers={"grpc-timeout": "5S"})
    assert status == 200
    status, _, raw = http(open_server, "/v1/dolphin.v1.AudienceService/Count", count, headers={"grpc-timeout": "5x"})
    assert status == 400 and "grpc-timeout" in json.loads(raw)["message"]
    status, _, raw = http(open_server, "/v1/dolphin.v1.AudienceService/Profile", {"expression": "ALL"},
                          headers={"grpc-timeout": "1n"})
    assert status == 504 and json.loads(raw)["status"] == "DEADLINE_EXCEEDED", raw


def test_error_details_in_the_body(open_server: RunningServer) -> None:
    """The console underlines the position the server gives and offers the suggestion."""
    status, _, raw = http(open_server, "/v1/dolphin.v1.AudienceService/Count", {"expression": "gender=F AND (vip=true"})
    error = json.loads(raw)
    assert status == 400 and error["errorClass"] == "QuerySyntaxError"
    assert error["details"] == {"position": "1:23"} and error["message"].startswith("1:23: ")
    status, _, raw = http(open_server, "/v1/dolphin.v1.AudienceService/Count", {"expression": "gender=F AND citty=x"})
    error = json.loads(raw)
    assert error["details"] == {"name": "citty", "position": "1:14", "suggestion": "city"}, error
