"""Random bytes to every method of the real server: never UNKNOWN or INTERNAL, never a crash, always in time."""

from __future__ import annotations

import time

import grpc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dolphin.server.maintenance import INGEST_SERVICE, SERVICE_NAMES
from dolphin.v1 import (
    adeffect_service_pb2,
    admin_service_pb2,
    audience_service_pb2,
    catalog_service_pb2,
    ingest_service_pb2,
    lookalike_service_pb2,
)
from tests.conftest import RunningServer

pytestmark = pytest.mark.e2e
MODULES = [audience_service_pb2, catalog_service_pb2, admin_service_pb2, lookalike_service_pb2, adeffect_service_pb2,
           ingest_service_pb2]
BAD_CODES = {grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL}


def methods() -> list[tuple[str, str]]:
    """Return (path, kind) of every method; kind is unary, server (streaming) or bidi."""
    out = []
    for module in MODULES:
        for service in module.DESCRIPTOR.services_by_name.values():
            assert service.full_name in [*SERVICE_NAMES, INGEST_SERVICE]
            for method in service.methods:
                kind = "bidi" if method.client_streaming else "server" if method.server_streaming else "unary"
                out.append((f"/{service.full_name}/{method.name}", kind))
                first = method.input_type.fields_by_number.get(1)
                if first is not None and first.type == first.TYPE_STRING:
                    STRING_FIRST.add(out[-1][0])
    return out


STRING_FIRST: set[str] = set()
METHODS = methods()


@pytest.fixture(scope="module")
def channel(server: RunningServer) -> grpc.Channel:
    with grpc.insecure_channel(server.target) as ch:
        yield ch


def call(channel: grpc.Channel, method: str, kind: str, payload: bytes) -> grpc.StatusCode:
    try:
        if kind == "bidi":
            bidi = channel.stream_stream(method, request_serializer=None, response_deserializer=None)
            for _ in bidi(iter([payload]), timeout=10):
                pass
        elif kind == "server":
            stub = channel.unary_stream(method, request_serializer=None, response_deserializer=None)
            for _ in stub(payload, timeout=10):
                pass
        else:
            channel.unary_unary(method, request_serializer=None, response_deserializer=None)(payload, timeout=10)
    except grpc.RpcError as exc:
        return exc.code()  # type: ignore[attr-defined, no-any-return]
    return grpc.StatusCode.OK


@pytest.mark.parametrize(("method", "kind"), METHODS, ids=[m for m, _ in METHODS])
def test_corrupt_bytes_are_invalid_argument(channel: grpc.Channel, method: str, kind: str) -> None:
    assert call(channel, method, kind, b"\xff\xff\xff\xff\x0f") == grpc.StatusCode.INVALID_ARGUMENT
    if method in STRING_FIRST:  # field 1 is a string: invalid UTF-8 in it must not decode
        assert call(channel, method, kind, b"\x0a\x02\xc3\x28") == grpc.StatusCode.INVALID_ARGUMENT


@settings(max_examples=1000, deadline=None)
@given(st.sampled_from(METHODS), st.binary(max_size=64))
def test_random_bytes_never_unknown(channel: grpc.Channel, method: tuple[str, str], payload: bytes) -> None:
    if method[0].endswith(("/Reload", "/SaveAudience", "/DeleteAudience", "/Split", "/Lookalike", "/Mutate",
                           "/Checkpoint")):
        payload = b"\xff" + payload  # mutating calls: only undecodable bytes, so the shared server is unchanged
    assert call(channel, *method, payload) not in BAD_CODES


def test_server_still_serving(channel: grpc.Channel) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    response = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    assert response.status == health_pb2.HealthCheckResponse.SERVING


NEAR_VALID = st.one_of(
    st.text(max_size=80),
    st.lists(st.sampled_from(["gender=F", "city IN (Hangzhou, Shanghai)", "NOT", "AND", "OR", "(", ")", "vip=true",
                              '"', "@x", "event(click", ",", "=", "!=", "interest", "ALL", "\\u00e9", "\x00"]),
             max_size=12).map(" ".join),
)
QUERY_METHODS = ["Count", "Explain", "Profile"]


@settings(max_examples=1000, deadline=None)
@given(st.sampled_from(QUERY_METHODS), NEAR_VALID)
def test_near_valid_expressions_over_rpc(channel: grpc.Channel, method: str, expression: str) -> None:
    """Every near-valid expression gets OK or a proper code, within its deadline plus a little."""
    from dolphin.v1 import audience_service_pb2 as pb

    request = getattr(pb, f"{method}Request")(expression=expression)
    started = time.monotonic()
    code = call(channel, f"/dolphin.v1.AudienceService/{method}", False, request.SerializeToString())
    assert time.monotonic() - started < 10 + 0.2
    assert code in {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED,
                    grpc.StatusCode.NOT_FOUND}


def test_oversize_message_is_resource_exhausted(channel: grpc.Channel) -> None:
    assert call(channel, "/dolphin.v1.AudienceService/Count", False, b"\x0a" + b"\x80\x80\x80\x03" + b"a" * (5 << 20)) \
        == grpc.StatusCode.RESOURCE_EXHAUSTED
