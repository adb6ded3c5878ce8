"""Handlers wrapped once at registration: through a real server, reads are marked and bad bytes are INVALID_ARGUMENT."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from dolphin.server.maintenance import add_health
from dolphin.server.registration import WrappingRegistrar, dolphin_wrap
from dolphin.stream.read_priority import ReadPriority
from dolphin.v1 import audience_service_pb2 as aud_pb
from dolphin.v1 import audience_service_pb2_grpc as aud_grpc
from dolphin.v1 import ingest_service_pb2 as ing_pb
from dolphin.v1 import ingest_service_pb2_grpc as ing_grpc
from tests.server.loop_thread import run_in_loop_thread


class Recording(aud_grpc.AudienceServiceServicer, ing_grpc.IngestServiceServicer):  # type: ignore[misc]
    """Notes, per method, whether the writer saw a read in flight while the handler ran."""

    def __init__(self, reads: ReadPriority) -> None:
        self.reads = reads
        self.busy: dict[str, bool] = {}

    async def Count(self, request: aud_pb.CountRequest, context: Any) -> aud_pb.CountResponse:
        self.busy["Count"] = self.reads.busy
        return aud_pb.CountResponse(count=len(request.expression))

    async def Export(self, request: aud_pb.ExportRequest, context: Any) -> Any:
        self.busy["Export"] = self.reads.busy
        yield aud_pb.ExportResponse(user_ids=["a"])

    async def GetOffsets(self, request: ing_pb.GetOffsetsRequest, context: Any) -> ing_pb.GetOffsetsResponse:
        self.busy["GetOffsets"] = self.reads.busy
        return ing_pb.GetOffsetsResponse()


async def _exercise(registered: bool) -> tuple[dict[str, bool], dict[str, grpc.StatusCode], bool]:
    reads = ReadPriority()
    servicer = Recording(reads)
    server = grpc.aio.server()
    registrar = WrappingRegistrar(server, dolphin_wrap(reads)) if registered else server
    aud_grpc.add_AudienceServiceServicer_to_server(servicer, registrar)
    ing_grpc.add_IngestServiceServicer_to_server(servicer, registrar)
    add_health(registrar)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    codes: dict[str, grpc.StatusCode] = {}
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            assert (await aud_grpc.AudienceServiceStub(channel).Count(aud_pb.CountRequest(expression="abc"))).count == 3
            assert [m.user_ids async for m in aud_grpc.AudienceServiceStub(channel).Export(aud_pb.ExportRequest())] \
                == [["a"]]
            await ing_grpc.IngestServiceStub(channel).GetOffsets(ing_pb.GetOffsetsRequest())
            for method in ("/dolphin.v1.AudienceService/Count", "/grpc.health.v1.Health/Check"):
                raw = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
                try:
                    await raw(b"\xff\xff\xff", timeout=10)  # a truncated varint: not a message
                except grpc.aio.AioRpcError as exc:
                    codes[method] = exc.code()
    finally:
        await server.stop(None)
    return servicer.busy, codes, reads.busy


@pytest.mark.parametrize("registered", [True, False])
def test_registered_handlers_mark_reads_and_answer_bad_bytes_with_invalid_argument(registered: bool) -> None:
    busy, codes, left_busy = run_in_loop_thread(_exercise(registered))
    if registered:
        assert busy == {"Count": True, "Export": True, "GetOffsets": False}  # ingest waits for the writer: no read
        assert codes == dict.fromkeys(codes, grpc.StatusCode.INVALID_ARGUMENT) and len(codes) == 2
    else:  # the bare server, to show that the marking is the wrapping's (its code for bad bytes is grpcio's own:
        # UNKNOWN on 1.85)
        assert busy == {"Count": False, "Export": False, "GetOffsets": False}
        assert len(codes) == 2
    assert not left_busy
