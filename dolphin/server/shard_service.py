"""ShardService: the raw counts a cluster front merges; one engine call."""

from __future__ import annotations

from dolphin.config import Settings
from dolphin.engine.api import EngineApi
from dolphin.server import convert
from dolphin.server.call_limits import Deadlines
from dolphin.server.run_engine import run_engine
from dolphin.server.status import Context, maps_errors
from dolphin.v1 import shard_service_pb2 as pb
from dolphin.v1 import shard_service_pb2_grpc as pb_grpc


class ShardServicer(Deadlines, pb_grpc.ShardServiceServicer):
    """Value counts without floor or caps (the front applies both after merging)."""

    SERVICE = pb.DESCRIPTOR.services_by_name["ShardService"].full_name

    def __init__(self, engine: EngineApi, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings

    @maps_errors
    async def ValueCounts(self, request: pb.ValueCountsRequest, context: Context) -> pb.ValueCountsResponse:
        result = await run_engine(self.engine.value_counts, request.expression,
                                  dimensions=list(request.dimensions), deadline=self.deadline(context))
        return convert.value_counts(result)
