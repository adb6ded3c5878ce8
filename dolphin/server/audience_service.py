"""AudienceService: one engine call per RPC."""

from __future__ import annotations

from collections.abc import AsyncIterator

from dolphin.config import Settings
from dolphin.engine import results
from dolphin.engine.api import EngineApi, ExportPages
from dolphin.engine.exchange import BitmapFormat
from dolphin.errors import InvalidArgumentError
from dolphin.server import convert
from dolphin.server.call_limits import Deadlines, ExpensiveCalls
from dolphin.server.privacy import Floor
from dolphin.server.run_engine import run_engine
from dolphin.server.status import Context, maps_errors, maps_stream_errors
from dolphin.v1 import audience_service_pb2 as pb
from dolphin.v1 import audience_service_pb2_grpc as pb_grpc

ID_ENCODINGS = frozenset(pb.IdEncoding.values())


class AudienceServicer(Deadlines, pb_grpc.AudienceServiceServicer):
    """Counts, exports, profiles, overlaps, plans and saved audiences."""

    SERVICE = pb.DESCRIPTOR.services_by_name["AudienceService"].full_name

    def __init__(self, engine: EngineApi, settings: Settings, expensive: ExpensiveCalls) -> None:
        self.engine = engine
        self.settings = settings
        self.expensive = expensive
        self.floor = Floor(settings.min_reportable_count)

    @maps_errors
    async def Count(self, request: pb.CountRequest, context: Context) -> pb.CountResponse:
        result = await self.engine.count_async(request.expression, deadline=self.deadline(context))
        count, suppressed = self.floor.shown(result.count)
        return pb.CountResponse(count=count, snapshot_version=result.snapshot_version, suppressed=suppressed)

    @maps_errors
    async def BatchCount(self, request: pb.BatchCountRequest, context: Context) -> pb.BatchCountResponse:
        with self.expensive.slot("BatchCount"):
            result = await run_engine(self.engine.batch_count, list(request.expressions),
                                      deadline=self.deadline(context))
        response = pb.BatchCountResponse(counts=result.counts, snapshot_version=result.snapshot_version)
        self.floor.counts(response)
        return response

    @maps_stream_errors
    async def Export(self, request: pb.ExportRequest, context: Context) -> AsyncIterator[pb.ExportResponse]:
        fmt = convert.bitmap_format(request.format, "format")
        if fmt is not None:
            async for chunk in self._export_bitmap(request, fmt, context):
                yield chunk
            return
        if request.max_pages < 0:
            raise InvalidArgumentError(f"max_pages must not be negative, got {request.max_pages}")
        with self.expensive.slot("Export"):
            cursor, first = await self._open_export(request, context)
            message = convert.export_page(first)
            pages = 0
            while True:
                yield message
                pages += 1
                if not message.next_page_token or pages == request.max_pages:
                    return
                message = await run_engine(lambda: convert.export_page(cursor.next_page()))

    @maps_errors
    async def ExportPage(self, request: pb.ExportPageRequest, context: Context) -> pb.ExportPageResponse:
        with self.expensive.slot("Export"):
            _, page = await self._open_export(request, context)
        return convert.export_page_response(page)

    async def _open_export(self, request: pb.ExportRequest | pb.ExportPageRequest, context: Context
                           ) -> tuple[ExportPages, results.ExportPage]:
        """Return the cursor and the first page of an export, after the checks Export and ExportPage share."""
        if request.id_encoding not in ID_ENCODINGS:
            raise InvalidArgumentError(f"id_encoding {request.id_encoding} is not one of "
                                       f"{', '.join(pb.IdEncoding.keys())}")
        cursor, first = await self.engine.open_export_async(
            request.expression, run_engine, page_size=request.page_size, page_token=request.page_token,
            deadline=self.deadline(context), integers=request.id_encoding == pb.ID_ENCODING_INT64,
            order_by=request.order_by.field, descending=request.order_by.descending)
        self.floor.check_export(cursor.total)
        return cursor, first

    async def _export_bitmap(self, request: pb.ExportRequest, fmt: BitmapFormat, context: Context
                             ) -> AsyncIterator[pb.ExportResponse]:
        """Stream one bitmap of the audience's external IDs in chunks under the message size limit."""
        if request.page_token or request.max_pages or request.order_by.field:
            raise InvalidArgumentError("a bitmap export is the whole audience at once: leave page_token, max_pages "
                                       "and order_by empty")
        with self.expensive.slot("Export"):
            result = await run_engine(self.engine.export_bitmap, request.expression, fmt, wide=request.bitmap_64,
                                      deadline=self.deadline(context))
        self.floor.check_export(result.count)
        for chunk in convert.bitmap_chunks(result):
            yield chunk

    @maps_errors
    async def Profile(self, request: pb.ProfileRequest, context: Context) -> pb.ProfileResponse:
        with self.expensive.slot("Profile"):
            result = await run_engine(self.engine.profile, request.expression, dimensions=list(request.dimensions),
                                      top_k=request.top_k, numeric_cuts=convert.numeric_cuts(request.numeric_cuts),
                                      deadline=self.deadline(context))
        return convert.profile(result, self.floor)

    @maps_errors
    async def Aggregate(self, request: pb.AggregateRequest, context: Context) -> pb.AggregateResponse:
        statistics = [convert.statistic(s) for s in request.statistics]
        with self.expensive.slot("Aggregate"):
            result = await run_engine(self.engine.aggregate, request.expression, list(request.fields),
                                      percentiles=list(request.percentiles), cut_points=list(request.cut_points),
                                      statistics=statistics, deadline=self.deadline(context))
        return convert.aggregate(result, self.floor)

    @maps_errors
    async def Overlap(self, request: pb.OverlapRequest, context: Context) -> pb.OverlapResponse:
        with self.expensive.slot("Overlap"):
            result = await run_engine(self.engine.overlap, list(request.expressions), deadline=self.deadline(context))
        return convert.overlap(result, self.floor)

    @maps_errors
    async def Explain(self, request: pb.ExplainRequest, context: Context) -> pb.ExplainResponse:
        result = await run_engine(self.engine.explain, request.expression, deadline=self.deadline(context))
        return convert.explain(result, self.floor)

    @maps_errors
    async def SaveAudience(self, request: pb.SaveAudienceRequest, context: Context) -> pb.Audience:
        if request.bitmap:
            if request.expression:
                raise InvalidArgumentError("give an expression or a bitmap, not both")
            fmt = convert.bitmap_format(request.bitmap_format, "bitmap_format")
            if fmt is None:
                raise InvalidArgumentError("bitmap_format is required with bitmap: EXPORT_FORMAT_ROARING_PORTABLE, "
                                           "EXPORT_FORMAT_CLICKHOUSE_GROUP_BITMAP or EXPORT_FORMAT_DORIS_BITMAP")
            with self.expensive.slot("SaveAudience"):
                info = await run_engine(self.engine.save_audience_bitmap, request.name, request.bitmap, fmt,
                                        overwrite=request.overwrite)
        else:
            info = await run_engine(self.engine.save_audience, request.name, request.expression,
                                    overwrite=request.overwrite)
        return convert.audience(info, self.floor)

    @maps_errors
    async def GetAudience(self, request: pb.GetAudienceRequest, context: Context) -> pb.Audience:
        return convert.audience(self.engine.get_audience(request.name), self.floor)

    @maps_errors
    async def ListAudiences(self, request: pb.ListAudiencesRequest, context: Context) -> pb.ListAudiencesResponse:
        page = self.engine.list_audiences(page_size=request.page_size, page_token=request.page_token)
        return pb.ListAudiencesResponse(audiences=[convert.audience(a, self.floor) for a in page.audiences],
                                        next_page_token=page.next_page_token)

    @maps_errors
    async def DeleteAudience(self, request: pb.DeleteAudienceRequest, context: Context) -> pb.DeleteAudienceResponse:
        info = await run_engine(self.engine.delete_audience, request.name)
        return pb.DeleteAudienceResponse(name=info.name)
