"""Engine result dataclasses -> protobuf messages. No logic."""

from __future__ import annotations

import time

import numpy as np
from google.protobuf.timestamp_pb2 import Timestamp

from dolphin.engine import adeffect
from dolphin.engine import results as r
from dolphin.lookalike import SeedVectors, VectorHits
from dolphin.server.privacy import Floor
from dolphin.stream import StreamStatus
from dolphin.v1 import adeffect_service_pb2 as ad_pb
from dolphin.v1 import admin_service_pb2 as admin_pb
from dolphin.v1 import audience_service_pb2 as aud_pb
from dolphin.v1 import catalog_service_pb2 as cat_pb
from dolphin.v1 import shard_service_pb2 as shard_pb

NO_FLOOR = Floor(0)
KINDS = {"single": cat_pb.DIMENSION_KIND_SINGLE, "multi": cat_pb.DIMENSION_KIND_MULTI}


def timestamp(seconds: float) -> Timestamp:
    """Return a Timestamp of a Unix time."""
    ts = Timestamp()
    ts.FromNanoseconds(int(seconds * 1e9))
    return ts


def audience(info: r.AudienceInfo, floor: Floor = NO_FLOOR) -> aud_pb.Audience:
    """Return the Audience message of a saved audience."""
    count, below = floor.shown(info.count)
    return aud_pb.Audience(
        name=info.name, expression=info.expression, count=count, below_reportable=below,
        snapshot_version=info.snapshot_version, created_at=timestamp(info.created_at),
    )


def _profile_value(v: r.ProfileValue, floor: Floor) -> aud_pb.ProfileValue:
    if floor.hides(v.count):
        return aud_pb.ProfileValue(value=v.value, population_share=v.population_share, suppressed=True)
    return aud_pb.ProfileValue(value=v.value, count=v.count, share=v.share, population_share=v.population_share,
                               tgi=v.tgi)


def profile(result: r.ProfileResult, floor: Floor = NO_FLOOR) -> aud_pb.ProfileResponse:
    """Return the ProfileResponse of a profile (with the privacy floor applied)."""
    if floor.hides(result.audience_count):
        return aud_pb.ProfileResponse(population_count=result.population_count, audience_suppressed=True,
                                      snapshot_version=result.snapshot_version)
    return aud_pb.ProfileResponse(
        audience_count=result.audience_count,
        population_count=result.population_count,
        snapshot_version=result.snapshot_version,
        dimensions=[
            aud_pb.DimensionProfile(dimension=d.dimension, value_count=d.value_count,
                                    values=[_profile_value(v, floor) for v in d.values])
            for d in result.dimensions
        ],
    )


def overlap(result: r.OverlapResult, floor: Floor = NO_FLOOR) -> aud_pb.OverlapResponse:
    """Return the OverlapResponse of an overlap (with the privacy floor applied)."""
    response = aud_pb.OverlapResponse(
        counts=result.counts,
        intersections=[aud_pb.Intersection(first=i, second=j, count=floor.shown(c)[0], suppressed=floor.hides(c))
                       for i, j, c in result.pairs],
        snapshot_version=result.snapshot_version,
    )
    floor.counts(response)
    return response


def plan_node(node: r.PlanTrace, floor: Floor = NO_FLOOR) -> aud_pb.PlanNode:
    """Return the PlanNode tree of an evaluated plan (cardinalities under the floor shown as 0)."""
    return aud_pb.PlanNode(op=node.op, detail=node.detail, cardinality=floor.shown(node.cardinality)[0],
                           elapsed_us=node.elapsed_us, children=[plan_node(c, floor) for c in node.children])


def explain(result: r.ExplainResult, floor: Floor = NO_FLOOR) -> aud_pb.ExplainResponse:
    """Return the ExplainResponse of an explain."""
    return aud_pb.ExplainResponse(root=plan_node(result.root, floor), count=floor.shown(result.count)[0],
                                  snapshot_version=result.snapshot_version,
                                  normalized_expression=result.normalized_expression)


_INT_IDS_TAG = bytes([aud_pb.ExportResponse.DESCRIPTOR.fields_by_name["int_user_ids"].number << 3 | 2])


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def export_page(page: r.ExportPage) -> aud_pb.ExportResponse:
    """Return the ExportResponse of a page."""
    if page.int_user_ids is None:
        return aud_pb.ExportResponse(user_ids=page.user_ids, next_page_token=page.next_page_token,
                                     snapshot_version=page.snapshot_version, total_count=page.total_count)
    # a packed sfixed64 field is the IDs' little-endian bytes behind one tag and length: parsing that is a copy,
    # where assigning the field would convert every ID through a Python int (measured 3 us against 950 us per 10k)
    packed = np.ascontiguousarray(page.int_user_ids, dtype="<i8").tobytes()
    message = aud_pb.ExportResponse.FromString(_INT_IDS_TAG + _varint(len(packed)) + packed)
    message.next_page_token = page.next_page_token
    message.snapshot_version = page.snapshot_version
    message.total_count = page.total_count
    return message


def dimensions(page: r.DimensionPage, floor: Floor = NO_FLOOR) -> cat_pb.ListDimensionsResponse:
    """Return the ListDimensionsResponse of a page of dimensions (tag sizes under the floor shown as 0)."""
    return cat_pb.ListDimensionsResponse(
        dimensions=[
            cat_pb.Dimension(name=d.name, kind=KINDS[d.kind], value_count=d.value_count,
                             user_count=floor.shown(d.user_count)[0],
                             values=[cat_pb.DimensionValue(value=v, count=floor.shown(c)[0]) for v, c in d.values])
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
        skipped_versions=list(info.skipped_versions),
        shards=[admin_pb.ShardStatus(shard=k.shard, address=k.address, snapshot_version=k.snapshot_version,
                                     users=k.users, tags=k.tags, bitmap_bytes=k.bitmap_bytes, rss_bytes=k.rss_bytes)
                for k in info.shards],
    )


def ingest_status(status: StreamStatus) -> admin_pb.IngestStatus:
    """Return the IngestStatus of the write side's status."""
    last = status.stats.last_applied_at
    recovery = status.recovery
    return admin_pb.IngestStatus(
        fsync=status.fsync, sequence=status.sequence, wal_position=status.wal_position, sources=status.sources,
        seconds_since_last_batch=max(0.0, time.time() - last) if last else 0.0, storage_full=status.storage_full,
        recovered_batches=recovery.replayed if recovery else 0,
        recovery_notes=recovery.truncated if recovery else [],
        last_checkpoint_version=status.last_checkpoint_version,
    )


def _stage(s: adeffect.FunnelStage, floor: Floor) -> ad_pb.FunnelStage:
    if floor.hides(s.count):
        return ad_pb.FunnelStage(event=s.event, suppressed=True)
    return ad_pb.FunnelStage(event=s.event, count=s.count, rate_from_previous=s.rate_from_previous,
                             rate_from_first=s.rate_from_first)


def funnel(result: adeffect.FunnelResult, floor: Floor = NO_FLOOR) -> ad_pb.FunnelResponse:
    """Return the FunnelResponse of a funnel (with the privacy floor applied)."""
    response = ad_pb.FunnelResponse(
        stages=[_stage(s, floor) for s in result.stages],
        segments=[ad_pb.FunnelSegment(value=s.value, counts=s.counts) for s in result.segments],
        audience_count=floor.shown(result.audience_count)[0], snapshot_version=result.snapshot_version)
    for segment in response.segments:
        floor.counts(segment)
    return response


def lift(result: adeffect.LiftResult, floor: Floor = NO_FLOOR) -> ad_pb.LiftResponse:
    """Return the LiftResponse of a lift; all figures suppressed when any count is under the floor."""
    counts = (result.exposed, result.exposed_outcome, result.unexposed, result.unexposed_outcome)
    if any(floor.hides(c) for c in counts):
        return ad_pb.LiftResponse(suppressed=True, snapshot_version=result.snapshot_version)
    return ad_pb.LiftResponse(
        exposed=result.exposed, exposed_outcome=result.exposed_outcome, unexposed=result.unexposed,
        unexposed_outcome=result.unexposed_outcome, exposed_rate=result.exposed_rate,
        unexposed_rate=result.unexposed_rate, absolute_lift=result.absolute_lift, relative_lift=result.relative_lift,
        z=result.z, p_value=result.p_value, snapshot_version=result.snapshot_version,
        absolute_lift_ci_low=result.ci_low, absolute_lift_ci_high=result.ci_high)


def campaigns(names: list[str], index: dict[str, dict[str, list[str]]], token: str,
              version: int) -> cat_pb.ListCampaignsResponse:
    """Return the ListCampaignsResponse of a page of campaign names."""
    return cat_pb.ListCampaignsResponse(
        campaigns=[cat_pb.Campaign(name=n, events=[
            cat_pb.CampaignEvent(event=e, first_day=days[0], last_day=days[-1], days=len(days))
            for e, days in sorted(index[n].items()) if days]) for n in names],
        next_page_token=token, snapshot_version=version)


def value_counts(result: r.ValueCountsResult) -> shard_pb.ValueCountsResponse:
    """Return the ValueCountsResponse of raw value counts."""
    return shard_pb.ValueCountsResponse(
        audience_count=result.audience_count, population_count=result.population_count,
        dimensions=[shard_pb.DimensionValueCounts(dimension=d.dimension, kind=d.kind, values=d.values,
                                                  tag_sizes=d.tag_sizes, audience_counts=d.audience_counts,
                                                  user_count=d.user_count) for d in result.dimensions],
        campaigns=[shard_pb.CampaignEventDays(campaign=c, event=e, days=days)
                   for c, events in sorted(result.campaigns.items()) for e, days in sorted(events.items())],
        snapshot_version=result.snapshot_version)


def seed_vectors(result: SeedVectors) -> shard_pb.SeedVectorsResponse:
    """Return the SeedVectorsResponse of one shard's part of a seed."""
    return shard_pb.SeedVectorsResponse(
        seed_count=result.seed_count, seed_with_vectors=result.seed_with_vectors,
        candidates_count=result.candidates_count, vector_sum=result.vector_sum.tolist(),
        sample=result.sample.astype("<f4").tobytes(), dimension=len(result.vector_sum),
        normalised=result.normalised, index_type=result.index_type, snapshot_version=result.snapshot_version)


def vector_hits(result: VectorHits) -> shard_pb.SearchVectorsResponse:
    """Return the SearchVectorsResponse of one shard's top k per query."""
    return shard_pb.SearchVectorsResponse(
        scores=result.scores.astype("<f4").tobytes(), dense_ids=result.dense_ids.astype("<i8").tobytes(),
        k=result.scores.shape[1], user_ids=result.user_ids, search_path=result.search_path, nprobe=result.nprobe,
        snapshot_version=result.snapshot_version)
