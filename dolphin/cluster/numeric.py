"""Numeric fields over shards: partial aggregates added up, and exact percentiles from global counts.

Every shard answers `ShardService.FieldParts` with exact integers for its users: counts, sums, sums of squares,
extremes and the number of users below given thresholds. Counts, sums and squares add; minima and maxima
compare; a histogram is the summed counts below its cut points. An exact percentile (the value at a rank) is
found by bisecting the value range with those global counts: one fan-out per step, every percentile of every
field in the same fan-out, at most 64 steps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

from dolphin.engine.aggregates import (
    AggregateResult,
    FieldAggregate,
    Statistic,
    buckets_of,
    cut_values,
    default_cuts,
)
from dolphin.engine.bsi import lower_bound, ranks_of
from dolphin.engine.numeric_profile import DECILES, bucket_profile
from dolphin.engine.results import DimensionProfile
from dolphin.storage import DimensionKind
from dolphin.v1 import shard_service_pb2 as shard_pb


@dataclass(slots=True)
class Merged:
    """One field's partial aggregates added up over shards."""

    kind: DimensionKind
    count: int = 0
    sum: int = 0
    minimum: int | None = None
    maximum: int | None = None
    squares: int = 0
    below: list[int] = field(default_factory=list)
    bits: int = 0
    index_bytes: int = 0


@dataclass(frozen=True, slots=True)
class PartsAnswer:
    """What one FieldParts fan-out returned, added up."""

    audience_count: int
    fields: dict[str, Merged]
    version: int


Fetch = Callable[[shard_pb.FieldPartsRequest], list[shard_pb.FieldPartsResponse]]


def fetch_parts(fetch: Fetch, subject: str, kinds: dict[str, DimensionKind], thresholds: dict[str, list[int]],
                *, sums: bool = False, extremes: bool = False, squares: bool = False, sizes: bool = False
                ) -> PartsAnswer:
    """Ask every shard for its parts of these fields and add them up."""
    request = shard_pb.FieldPartsRequest(
        expression=subject, fields=list(kinds), sums=sums, extremes=extremes, squares=squares, sizes=sizes,
        thresholds=[shard_pb.FieldThresholds(field=f, values=v) for f, v in thresholds.items() if v])
    answers = fetch(request)
    merged = {name: Merged(kind, below=[0] * len(thresholds.get(name, []))) for name, kind in kinds.items()}
    for answer in answers:
        for part in answer.fields:
            m = merged[part.field]
            m.bits, m.index_bytes = max(m.bits, part.bits), m.index_bytes + part.index_bytes
            if not part.count:
                continue
            m.count += part.count
            m.sum += int(part.sum or 0)
            m.squares += int(part.sum_of_squares or 0)
            if extremes:
                m.minimum = part.min if m.minimum is None else min(m.minimum, part.min)
                m.maximum = part.max if m.maximum is None else max(m.maximum, part.max)
            m.below = [a + b for a, b in zip(m.below, part.below, strict=True)]
    return PartsAnswer(sum(a.audience_count for a in answers), merged,
                       min((a.snapshot_version for a in answers), default=0))


def values_at_ranks(fetch: Fetch, subject: str, kinds: dict[str, DimensionKind],
                    searches: dict[str, list[int]], bounds: dict[str, tuple[int, int]]) -> dict[str, list[int]]:
    """Return, per field, the values at these 0-based ranks (ascending), bisecting [min, max] with global counts."""
    low = {f: [bounds[f][0]] * len(r) for f, r in searches.items()}
    high = {f: [bounds[f][1]] * len(r) for f, r in searches.items()}
    while any(lo < hi for f in searches for lo, hi in zip(low[f], high[f], strict=True)):
        probes = {f: [(lo + hi) // 2 + 1 for lo, hi in zip(low[f], high[f], strict=True)] for f in searches}
        answer = fetch_parts(fetch, subject, {f: kinds[f] for f in searches}, probes)
        for f, ranks in searches.items():
            for i, rank in enumerate(ranks):
                if low[f][i] == high[f][i]:
                    continue
                mid = probes[f][i] - 1
                if answer.fields[f].below[i] > rank:  # the value at rank is <= mid
                    high[f][i] = mid
                else:
                    low[f][i] = mid + 1
    return low


def aggregate(fetch: Fetch, subject: str, kinds: dict[str, DimensionKind], percentiles: list[float],
              cut_points: list[str], wanted: set[Statistic]) -> AggregateResult:
    """Return Aggregate's answer over shards, equal to a single node's over the same users."""
    cuts = {f: cut_values(k, f, cut_points) for f, k in kinds.items()}
    default_histogram = Statistic.HISTOGRAM in wanted and not cut_points
    extremes = bool(wanted & {Statistic.MIN, Statistic.MAX}) or default_histogram or bool(percentiles)
    first = fetch_parts(fetch, subject, kinds, {f: [lower_bound(c, True) for c in cuts[f]] for f in kinds},
                        sums=bool(wanted & {Statistic.SUM, Statistic.MEAN, Statistic.STDDEV}), extremes=extremes,
                        squares=Statistic.STDDEV in wanted)
    if default_histogram:
        cuts = {f: default_cuts(m.minimum, m.maximum) if m.count else []  # type: ignore[arg-type]
                for f, m in first.fields.items()}
        again = fetch_parts(fetch, subject, kinds, {f: [lower_bound(c, True) for c in cuts[f]] for f in kinds})
        for f, m in first.fields.items():
            m.below = again.fields[f].below
    valued = {f: m for f, m in first.fields.items() if m.count}
    found = values_at_ranks(fetch, subject, kinds, {f: ranks_of(percentiles, m.count) for f, m in valued.items()},
                            {f: (m.minimum, m.maximum) for f, m in valued.items()}) if percentiles else {}  # type: ignore[misc]
    out = []
    for name, m in first.fields.items():
        out.append(FieldAggregate(
            name, m.kind, m.count,
            m.sum if wanted & {Statistic.SUM, Statistic.MEAN, Statistic.STDDEV} else None,
            m.minimum if Statistic.MIN in wanted else None, m.maximum if Statistic.MAX in wanted else None,
            m.squares if Statistic.STDDEV in wanted else None,
            list(zip(percentiles, found.get(name, []), strict=False)),
            buckets_of(cuts[name], m.below, m.count) if cuts[name] or Statistic.HISTOGRAM in wanted else [],
            Statistic.MEAN in wanted))
    return AggregateResult(first.audience_count, out, first.version)


def population_deciles(fetch: Fetch, name: str, kind: DimensionKind) -> list[Fraction]:
    """Return a field's distinct deciles over every user with a value (a single node's cuts), over shards."""
    whole = fetch_parts(fetch, "ALL", {name: kind}, {}, extremes=True).fields[name]
    if not whole.count:
        return []
    assert whole.minimum is not None and whole.maximum is not None
    values = values_at_ranks(fetch, "ALL", {name: kind}, {name: ranks_of(DECILES, whole.count)},
                             {name: (whole.minimum, whole.maximum)})[name]
    return [Fraction(v) for v in sorted(set(values)) if v > whole.minimum]


def numeric_profile(fetch: Fetch, subject: str, name: str, kind: DimensionKind, cut_points: list[str] | None,
                    audience_count: int, population: int) -> DimensionProfile:
    """Return the profile of a numeric field over shards: buckets of the audience against the population."""
    cuts = cut_values(kind, name, cut_points) if cut_points else population_deciles(fetch, name, kind)
    thresholds = {name: [lower_bound(c, True) for c in cuts]}
    inside = fetch_parts(fetch, subject, {name: kind}, thresholds).fields[name]
    whole = fetch_parts(fetch, "ALL", {name: kind}, thresholds).fields[name]
    return bucket_profile(name, kind, buckets_of(cuts, inside.below, inside.count),
                          buckets_of(cuts, whole.below, whole.count), audience_count, population)

