"""ShardService: the raw counts and vector searches a cluster front merges; one engine call each."""

from __future__ import annotations

import numpy as np

from dolphin.config import Settings
from dolphin.engine.api import EngineApi
from dolphin.errors import InvalidArgumentError, PreconditionError
from dolphin.lookalike import Lookalike, VectorPool
from dolphin.server import convert
from dolphin.server.call_limits import Deadlines
from dolphin.server.run_engine import run_engine
from dolphin.server.status import Context, maps_errors
from dolphin.v1 import shard_service_pb2 as pb
from dolphin.v1 import shard_service_pb2_grpc as pb_grpc


def vector_pool(message: pb.VectorPool) -> VectorPool:
    """Return the seed and pool of a vector request."""
    return VectorPool(message.seed_expression, message.candidate_expression, message.exclude_seed)


def query_matrix(request: pb.SearchVectorsRequest) -> np.ndarray:
    """Return the request's query vectors as a queries x dimension float32 matrix."""
    floats = np.frombuffer(request.queries, dtype="<f4")
    if request.dimension < 1 or not len(floats) or len(floats) % request.dimension:
        raise InvalidArgumentError(f"queries hold {len(floats)} floats, not a whole number of vectors of "
                                   f"dimension {request.dimension}")
    return floats.reshape(-1, request.dimension)


class ShardServicer(Deadlines, pb_grpc.ShardServiceServicer):
    """Value counts without floor or caps (the front applies both after merging), and vector searches."""

    SERVICE = pb.DESCRIPTOR.services_by_name["ShardService"].full_name

    def __init__(self, engine: EngineApi, settings: Settings, vectors: Lookalike | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self.vectors = vectors

    def _vectors(self) -> Lookalike:
        if self.vectors is None:
            raise PreconditionError("vector searches are answered by shards, not by a cluster front")
        return self.vectors

    @maps_errors
    async def ValueCounts(self, request: pb.ValueCountsRequest, context: Context) -> pb.ValueCountsResponse:
        result = await run_engine(self.engine.value_counts, request.expression,
                                  dimensions=list(request.dimensions), deadline=self.deadline(context))
        return convert.value_counts(result)

    @maps_errors
    async def SeedVectors(self, request: pb.SeedVectorsRequest, context: Context) -> pb.SeedVectorsResponse:
        result = await run_engine(self._vectors().seed_vectors, vector_pool(request.pool), request.sample)
        return convert.seed_vectors(result)

    @maps_errors
    async def SearchVectors(self, request: pb.SearchVectorsRequest, context: Context) -> pb.SearchVectorsResponse:
        result = await run_engine(self._vectors().search, vector_pool(request.pool), query_matrix(request),
                                  request.k, nprobe=request.nprobe, narrow=request.narrow)
        return convert.vector_hits(result)

    @maps_errors
    async def SaveUsers(self, request: pb.SaveUsersRequest, context: Context) -> pb.SaveUsersResponse:
        dense = np.frombuffer(request.dense_ids, dtype="<u4")
        saved = await run_engine(self._vectors().save, request.name, request.description, dense)
        return pb.SaveUsersResponse(count=saved.count)

    @maps_errors
    async def FieldParts(self, request: pb.FieldPartsRequest, context: Context) -> pb.FieldPartsResponse:
        thresholds = {t.field: list(t.values) for t in request.thresholds}
        count, parts, version = await run_engine(self.engine.field_parts, request.expression, list(request.fields),
                                                 thresholds=thresholds, sums=request.sums, extremes=request.extremes,
                                                 squares=request.squares, sizes=request.sizes,
                                                 deadline=self.deadline(context))
        return convert.field_parts(count, parts, version)

    @maps_errors
    async def PrepareVersion(self, request: pb.PrepareVersionRequest, context: Context
                             ) -> pb.PrepareVersionResponse:
        served = await run_engine(self.engine.prepare_version, request.batch_version)
        return pb.PrepareVersionResponse(served_batch_version=served)

    @maps_errors
    async def ServeVersion(self, request: pb.ServeVersionRequest, context: Context) -> pb.ServeVersionResponse:
        served = await run_engine(self.engine.serve_version, request.batch_version)
        return pb.ServeVersionResponse(previous_version=served.reload.previous_version,
                                       snapshot_version=served.reload.snapshot_version,
                                       batch_version=served.batch_version, changed=served.reload.changed)
