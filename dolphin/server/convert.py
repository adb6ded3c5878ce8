"""Engine result dataclasses -> protobuf messages. No logic."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp

from dolphin.engine import adeffect
from dolphin.engine import results as r
from dolphin.v1 import adeffect_service_pb2 as ad_pb
from dolphin.v1 import admin_service_pb2 as admin_pb
from dolphin.v1 import audience_service_pb2 as aud_pb
from dolphin.v1 import catalog_service_pb2 as cat_pb

KINDS = {"single": cat_pb.DIMENSION_KIND_SINGLE, "multi": cat_pb.DIMENSION_KIND_MULTI}


def timestamp(seconds: float) -> Timestamp:
    """Return a Timestamp of a Unix time."""
    ts = Timestamp()
    ts.FromNanoseconds(int(seconds * 1e9))
    return ts


def audience(info: r.AudienceInfo) -> aud_pb.Audience:
    """Return the Audience message of a saved audience."""
    return aud_pb.Audience(
        name=info.name, expression=info.expression, count=info.count,
        snapshot_version=info.snapshot_version, created_at=timestamp(info.created_at),
    )


def profile(result: r.ProfileResult) -> aud_pb.ProfileResponse:
    """Return the ProfileResponse of a profile."""
    return aud_pb.ProfileResponse(
        audience_count=result.audience_count,
        population_count=result.population_count,
        snapshot_version=result.snapshot_version,
        dimensions=[
            aud_pb.DimensionProfile(
                dimension=d.dimension,
                value_count=d.value_count,
                values=[
                    aud_pb.ProfileValue(value=v.value, count=v.count, share=v.share,
                                        population_share=v.population_share, tgi=v.tgi)
                    for v in d.values
                ],
            )
            for d in result.dimensions
        ],
    )


def overlap(result: r.OverlapResult) -> aud_pb.OverlapResponse:
    """Return the OverlapResponse of an overlap."""
    return aud_pb.OverlapResponse(
        counts=result.counts,
        intersections=[aud_pb.Intersection(first=i, second=j, count=c) for i, j, c in result.pairs],
        snapshot_version=result.snapshot_version,
    )


def plan_node(node: r.PlanTrace) -> aud_pb.PlanNode:
    """Return the PlanNode tree of an evaluated plan."""
    return aud_pb.PlanNode(op=node.op, detail=node.detail, cardinality=node.cardinality,
                           elapsed_us=node.elapsed_us, children=[plan_node(c) for c in node.children])


def explain(result: r.ExplainResult) -> aud_pb.ExplainResponse:
    """Return the ExplainResponse of an explain."""
    return aud_pb.ExplainResponse(root=plan_node(result.root), count=result.count,
                                  snapshot_version=result.snapshot_version,
                                  normalized_expression=result.normalized_expression)


def export_page(page: r.ExportPage) -> aud_pb.ExportResponse:
    """Return the ExportResponse of a page."""
    return aud_pb.ExportResponse(user_ids=page.user_ids, next_page_token=page.next_page_token,
                                 snapshot_version=page.snapshot_version, total_count=page.total_count)


def dimensions(page: r.DimensionPage) -> cat_pb.ListDimensionsResponse:
    """Return the ListDimensionsResponse of a page of dimensions."""
    return cat_pb.ListDimensionsResponse(
        dimensions=[
            cat_pb.Dimension(name=d.name, kind=KINDS[d.kind], value_count=d.value_count, user_count=d.user_count,
                             values=[cat_pb.DimensionValue(value=v, count=c) for v, c in d.values])
            for d in page.dimensions
        ],
        next_page_token=page.next_page_token,
        snapshot_version=page.snapshot_version,
    )


def status(info: r.StatusInfo, uptime: float, version: str) -> admin_pb.StatusResponse:
    """Return the StatusResponse of the engine's status."""
    return admin_pb.StatusResponse(
        snapshot_version=info.snapshot_version, users=info.users, tags=info.tags, dimensions=info.dimensions,
        bitmap_bytes=info.bitmap_bytes, rss_bytes=info.rss_bytes, uptime_seconds=uptime,
        snapshot_built_at=timestamp(info.snapshot_built_at), loaded_at=timestamp(info.loaded_at),
        data_dir=info.data_dir, saved_audiences=info.saved_audiences, server_version=version,
    )


def funnel(result: adeffect.FunnelResult) -> ad_pb.FunnelResponse:
    """Return the FunnelResponse of a funnel."""
    return ad_pb.FunnelResponse(
        stages=[ad_pb.FunnelStage(event=s.event, count=s.count, rate_from_previous=s.rate_from_previous,
                                  rate_from_first=s.rate_from_first) for s in result.stages],
        segments=[ad_pb.FunnelSegment(value=s.value, counts=s.counts) for s in result.segments],
        audience_count=result.audience_count, snapshot_version=result.snapshot_version)


def lift(result: adeffect.LiftResult) -> ad_pb.LiftResponse:
    """Return the LiftResponse of a lift."""
    return ad_pb.LiftResponse(
        exposed=result.exposed, exposed_outcome=result.exposed_outcome, unexposed=result.unexposed,
        unexposed_outcome=result.unexposed_outcome, exposed_rate=result.exposed_rate,
        unexposed_rate=result.unexposed_rate, absolute_lift=result.absolute_lift, relative_lift=result.relative_lift,
        z=result.z, p_value=result.p_value, snapshot_version=result.snapshot_version)


def campaigns(names: list[str], index: dict[str, dict[str, list[str]]], token: str,
              version: int) -> cat_pb.ListCampaignsResponse:
    """Return the ListCampaignsResponse of a page of campaign names."""
    return cat_pb.ListCampaignsResponse(
        campaigns=[cat_pb.Campaign(name=n, events=[
            cat_pb.CampaignEvent(event=e, first_day=days[0], last_day=days[-1], days=len(days))
            for e, days in sorted(index[n].items()) if days]) for n in names],
        next_page_token=token, snapshot_version=version)
