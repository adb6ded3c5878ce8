"""AdEffectService: one engine call per RPC."""

from __future__ import annotations

from dolphin.config import Settings
from dolphin.engine.api import EngineApi
from dolphin.server import convert
from dolphin.server.call_limits import Deadlines, ExpensiveCalls
from dolphin.server.privacy import Floor
from dolphin.server.run_engine import run_engine
from dolphin.server.status import Context, maps_errors
from dolphin.v1 import adeffect_service_pb2 as pb
from dolphin.v1 import adeffect_service_pb2_grpc as pb_grpc


class AdEffectServicer(Deadlines, pb_grpc.AdEffectServiceServicer):
    """Funnels, lift, retention, splits and trends."""

    SERVICE = pb.DESCRIPTOR.services_by_name["AdEffectService"].full_name

    def __init__(self, engine: EngineApi, settings: Settings, expensive: ExpensiveCalls) -> None:
        self.engine = engine
        self.settings = settings
        self.expensive = expensive
        self.floor = Floor(settings.min_reportable_count)

    @maps_errors
    async def Funnel(self, request: pb.FunnelRequest, context: Context) -> pb.FunnelResponse:
        with self.expensive.slot("Funnel"):
            r = await run_engine(self.engine.funnel, request.campaign, list(request.stages), request.start_date,
                                 request.end_date, audience_expression=request.audience_expression,
                                 breakdown_dimension=request.breakdown_dimension, top_k=request.top_k,
                                 value_fields=list(request.value_fields), deadline=self.deadline(context))
        return convert.funnel(r, self.floor)

    @maps_errors
    async def Lift(self, request: pb.LiftRequest, context: Context) -> pb.LiftResponse:
        r = await run_engine(self.engine.lift, request.campaign, request.exposure_event, request.outcome_event,
                             request.start_date, request.end_date, audience_expression=request.audience_expression,
                             value_fields=list(request.value_fields), deadline=self.deadline(context))
        return convert.lift(r, self.floor)

    @maps_errors
    async def Retention(self, request: pb.RetentionRequest, context: Context) -> pb.RetentionResponse:
        rows, version = await run_engine(self.engine.retention, request.campaign, request.cohort_event,
                                         request.return_event, request.start_date, request.end_date,
                                         days=request.days, deadline=self.deadline(context))
        response = pb.RetentionResponse(snapshot_version=version)
        for row in rows:
            cohort, hidden = self.floor.shown(row.cohort)
            out = response.rows.add(day=row.day, cohort=cohort, cohort_suppressed=hidden, returned=row.returned)
            self.floor.counts(out, "returned", "returned_suppressed")
        return response

    @maps_errors
    async def Split(self, request: pb.SplitRequest, context: Context) -> pb.SplitResponse:
        parts = [(s.name, s.share) for s in request.shares]
        saved = await run_engine(self.engine.split, request.expression, request.name, parts, request.salt)
        return pb.SplitResponse(audiences=[convert.audience(a, self.floor) for a in saved])

    @maps_errors
    async def Trend(self, request: pb.TrendRequest, context: Context) -> pb.TrendResponse:
        series, version = await run_engine(self.engine.trend, request.campaign, list(request.events),
                                           request.start_date, request.end_date,
                                           audience_expression=request.audience_expression,
                                           deadline=self.deadline(context))
        response = pb.TrendResponse(series=[pb.TrendSeries(event=s.event, days=s.days, counts=s.counts)
                                            for s in series], snapshot_version=version)
        for out in response.series:
            self.floor.counts(out)
        return response
