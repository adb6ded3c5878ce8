"""AdminService: status and reloads."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from dolphin.engine.api import EngineApi
from dolphin.lookalike import LookalikeApi
from dolphin.server import convert
from dolphin.server.ingest_service import ingestor_or_refuse
from dolphin.server.run_engine import run_engine
from dolphin.server.status import Context, maps_errors
from dolphin.stream.api import StreamApi
from dolphin.v1 import admin_service_pb2 as pb
from dolphin.v1 import admin_service_pb2_grpc as pb_grpc


class AdminServicer(pb_grpc.AdminServiceServicer):
    """Reports on and reloads the served snapshot."""

    SERVICE = pb.DESCRIPTOR.services_by_name["AdminService"].full_name

    def __init__(self, engine: EngineApi, on_reload: Callable[[], Awaitable[None]], version: str,
                 ingestor: StreamApi | None = None, lookalike: LookalikeApi | None = None) -> None:
        self.engine = engine
        self.ingestor = ingestor
        self.lookalike = lookalike
        self.on_reload = on_reload
        self.started = time.monotonic()
        self.version = version

    @maps_errors
    async def Status(self, request: pb.StatusRequest, context: Context) -> pb.StatusResponse:
        info = await run_engine(self.engine.status)
        response = convert.status(info, time.monotonic() - self.started, self.version)
        if self.lookalike is not None:
            for name, size in self.lookalike.cache_bytes().items():
                response.cache_bytes[name] = response.cache_bytes.get(name, 0) + size
        if self.ingestor is not None:
            response.ingest.CopyFrom(convert.ingest_status(self.ingestor.status()))
        return response

    @maps_errors
    async def Reload(self, request: pb.ReloadRequest, context: Context) -> pb.ReloadResponse:
        result = await run_engine(self.engine.reload)
        await self.on_reload()
        return pb.ReloadResponse(previous_version=result.previous_version, snapshot_version=result.snapshot_version,
                                 changed=result.changed)

    @maps_errors
    async def Checkpoint(self, request: pb.CheckpointRequest, context: Context) -> pb.CheckpointResponse:
        result = await run_engine(ingestor_or_refuse(self.ingestor).checkpoint)
        return pb.CheckpointResponse(
            snapshot_version=result.version, wal_position=result.wal_position, incremental=result.incremental,
            changed_tags=result.changed_tags, pause_seconds=result.pause_seconds, seconds=result.seconds)
