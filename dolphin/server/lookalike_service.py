"""LookalikeService: one call to dolphin.lookalike."""

from __future__ import annotations

from dolphin.errors import InvalidArgumentError, PreconditionError
from dolphin.lookalike import LookalikeApi, Method
from dolphin.server.auth import TokenStore, check_role
from dolphin.server.call_limits import ExpensiveCalls
from dolphin.server.privacy import Floor
from dolphin.server.run_engine import run_engine
from dolphin.server.status import Context, maps_errors
from dolphin.v1 import lookalike_service_pb2 as pb
from dolphin.v1 import lookalike_service_pb2_grpc as pb_grpc

METHODS = {
    pb.LOOKALIKE_METHOD_UNSPECIFIED: Method.CENTROID,
    pb.LOOKALIKE_METHOD_CENTROID: Method.CENTROID,
    pb.LOOKALIKE_METHOD_MULTI_CENTROID: Method.MULTI_CENTROID,
    pb.LOOKALIKE_METHOD_KNN_VOTE: Method.KNN_VOTE,
}
METHOD_VALUES = {method: value for value, method in METHODS.items() if value}
PATHS = {"approximate": pb.SEARCH_PATH_APPROXIMATE, "exact": pb.SEARCH_PATH_EXACT}


class LookalikeServicer(pb_grpc.LookalikeServiceServicer):
    """Lookalike recall."""

    SERVICE = pb.DESCRIPTOR.services_by_name["LookalikeService"].full_name

    def __init__(self, lookalike: LookalikeApi | None, expensive: ExpensiveCalls, floor: Floor,
                 tokens: TokenStore | None = None) -> None:
        self.lookalike = lookalike
        self.expensive = expensive
        self.floor = floor
        self.tokens = tokens

    @maps_errors
    async def Lookalike(self, request: pb.LookalikeRequest, context: Context) -> pb.LookalikeResponse:
        if request.method not in METHODS:
            raise InvalidArgumentError(f"unknown lookalike method {request.method}; use CENTROID, MULTI_CENTROID "
                                       "or KNN_VOTE")
        if self.lookalike is None:
            raise PreconditionError("this server was started without lookalike recall")
        if request.save_as:  # saving writes an audience: the reader role that may search may not save
            check_role(self.tokens, context.invocation_metadata(), "writer", "Lookalike with save_as")
        with self.expensive.slot("Lookalike"):
            result = await run_engine(
                self.lookalike.run, request.seed_expression, candidate_expression=request.candidate_expression,
                k=request.k, exclude_seed=request.exclude_seed if request.HasField("exclude_seed") else True,
                method=METHODS[request.method], nprobe=request.nprobe_or_ef, save_as=request.save_as)
        return pb.LookalikeResponse(
            users=[pb.ScoredUser(user_id=u, score=s) for u, s in zip(result.user_ids, result.scores, strict=True)],
            seed_count=result.seed_count, seed_with_vectors=result.seed_with_vectors,
            candidates_count=result.candidates_count, elapsed_ms=result.elapsed_ms,
            method=METHOD_VALUES[result.method], search_path=PATHS[result.search_path], nprobe=result.nprobe,
            snapshot_version=result.snapshot_version, index_type=result.index_type,
            seed_below_reportable=self.floor.hides(result.seed_count))
