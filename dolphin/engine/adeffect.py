"""Ad-effect analytics over reach bitmaps: funnels (with breakdowns), lift, retention, trends, splits."""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import math
from dataclasses import dataclass

import numpy as np
from pyroaring import AbstractBitMap

from dolphin.engine.aggregates import ValueSum, value_sum
from dolphin.engine.evaluate import Budget, count, materialize
from dolphin.engine.events import check_range, parse_day
from dolphin.engine.planner import Leaf, Node, conjoin
from dolphin.engine.snapshot import Snapshot
from dolphin.errors import InvalidArgumentError
from dolphin.storage import DimensionKind


@dataclass(frozen=True, slots=True)
class FunnelStage:
    """Users who reached a stage (and every earlier one)."""

    event: str
    count: int
    rate_from_previous: float
    rate_from_first: float
    values: tuple[ValueSum, ...] = ()  # the value fields' sums over the stage's users


@dataclass(frozen=True, slots=True)
class FunnelSegment:
    """One value of the breakdown dimension and its stage counts."""

    value: str
    counts: list[int]


@dataclass(frozen=True, slots=True)
class FunnelResult:
    """A funnel, optionally broken down by a dimension."""

    stages: list[FunnelStage]
    segments: list[FunnelSegment]
    audience_count: int
    snapshot_version: int


@dataclass(frozen=True, slots=True)
class LiftResult:
    """Outcome rates of exposed and unexposed audience users, and the two-proportion z-test."""

    exposed: int
    exposed_outcome: int
    unexposed: int
    unexposed_outcome: int
    exposed_rate: float
    unexposed_rate: float
    absolute_lift: float
    relative_lift: float
    z: float
    p_value: float
    snapshot_version: int
    ci_low: float = 0.0  # 95% confidence interval of absolute_lift (Wald, unpooled standard error)
    ci_high: float = 0.0
    exposed_values: tuple[ValueSum, ...] = ()  # the value fields' sums over exposed users
    unexposed_values: tuple[ValueSum, ...] = ()  # and over unexposed audience users


@dataclass(frozen=True, slots=True)
class RetentionRow:
    """A cohort day: its size, and how many returned 1..days days later."""

    day: str
    cohort: int
    returned: list[int]


@dataclass(frozen=True, slots=True)
class TrendSeries:
    """Reach per day of one event."""

    event: str
    days: list[str]
    counts: list[int]


def day_range(start: str, end: str, max_days: int) -> tuple[str, str, list[str]]:
    """Validate ISO start/end; return them and every day between (inclusive)."""
    first, last = parse_day(start, "start_date"), parse_day(end or start, "end_date")
    days = check_range(first, last, max_days)
    return first.isoformat(), last.isoformat(), [(first + datetime.timedelta(d)).isoformat() for d in range(days)]


def _within(snap: Snapshot, audience: Node | None, bitmap: AbstractBitMap, detail: str) -> Node:
    """Plan `audience AND bitmap`, so the audience is only evaluated where the bitmap has users."""
    leaf = Leaf("event", detail, bitmap)
    return leaf if audience is None else conjoin([leaf, audience], Leaf("all", "ALL", snap.population))


def funnel_stages(snap: Snapshot, campaign: str, stages: list[str], start: str, end: str,
                  audience: Node | None, budget: Budget, strict: bool = True) -> list[AbstractBitMap]:
    """Return the users of each stage: did the stage's event and every earlier one in the range (in the audience)."""
    if not 1 <= len(stages) <= 16:
        raise InvalidArgumentError(f"a funnel needs 1 to 16 stages, got {len(stages)}")
    first = snap.events.reach(campaign, stages[0], start, end, strict)
    current = materialize(_within(snap, audience, first, stages[0]), budget)
    out: list[AbstractBitMap] = [current]
    for event in stages[1:]:
        budget.check()
        current = current & snap.events.reach(campaign, event, start, end, strict)
        out.append(current)
    return out


def _rates(counts: list[int]) -> list[tuple[float, float]]:
    first = counts[0] if counts else 0
    return [((c / counts[i - 1] if counts[i - 1] else 0.0) if i else 1.0, c / first if first else 0.0)
            for i, c in enumerate(counts)]


def funnel_stages_of_counts(events: list[str], counts: list[int]) -> list[FunnelStage]:
    """Return the stages of a funnel with these users per stage, with their conversion rates."""
    return [FunnelStage(e, c, prev, first) for e, c, (prev, first) in zip(events, counts, _rates(counts), strict=True)]


def ranked_segments(values: list[str], table: np.ndarray, top_k: int) -> list[FunnelSegment]:
    """Return the values with users in the first stage (table is stages x values), most first, cut at top_k."""
    order = sorted((i for i in range(len(values)) if table[0, i]), key=lambda i: (-int(table[0, i]), values[i]))
    return [FunnelSegment(values[i], [int(x) for x in table[:, i]]) for i in order[:top_k]]


def value_sums(snap: Snapshot, users: AbstractBitMap, fields: list[str]) -> tuple[ValueSum, ...]:
    """Return each numeric field's count and sum over users (a field this cluster shard lacks: zero)."""
    return tuple(value_sum(snap.numeric(f), users) if snap.has_dimension(f) else ValueSum(f, snap.kinds.get(
        f, DimensionKind.INTEGER), 0, 0) for f in fields)


def funnel(snap: Snapshot, campaign: str, stages: list[str], start: str, end: str,
           audience: Node | None, breakdown: str, top_k: int, budget: Budget, strict: bool = True,
           value_fields: list[str] | None = None) -> FunnelResult:
    """Return stage counts and rates, per-value counts for a breakdown dimension, and value fields' sums."""
    bitmaps = funnel_stages(snap, campaign, stages, start, end, audience, budget, strict)
    result_stages = funnel_stages_of_counts(stages, [len(b) for b in bitmaps])
    if value_fields:
        result_stages = [dataclasses.replace(stage, values=value_sums(snap, users, value_fields))
                         for stage, users in zip(result_stages, bitmaps, strict=True)]
    segments = _breakdown(snap, bitmaps, breakdown, top_k, budget) if breakdown else []
    audience_count = count(audience, budget) if audience is not None else len(snap.population)
    return FunnelResult(result_stages, segments, audience_count, snap.version)


def _breakdown(snap: Snapshot, stages: list[AbstractBitMap], dimension: str, top_k: int,
               budget: Budget) -> list[FunnelSegment]:
    codes = snap.value_codes(dimension, sum(len(s) for s in stages))
    if codes is not None:
        table = np.stack([codes.counts(np.frombuffer(s.to_array(), dtype=np.uint32), s) for s in stages])
        values = codes.values
    else:
        tags = snap.tags.get(dimension, {})  # unknown only on a cluster shard, where it is empty
        values = sorted(tags)
        table = np.array([[s.intersection_cardinality(tags[v]) for v in values] for s in stages],
                         dtype=np.int64).reshape(len(stages), len(values))
    budget.check()
    return ranked_segments(values, table, top_k)


def lift(snap: Snapshot, campaign: str, exposure: str, outcome: str, start: str, end: str,
         audience: Node | None, budget: Budget, strict: bool = True, value_fields: list[str] | None = None
         ) -> LiftResult:
    """Compare the outcome rate of exposed and unexposed audience users; two-sided two-proportion z-test.

    The audience is never built whole: only its overlap with the exposure reach, and counts.
    """
    exposure_reach = snap.events.reach(campaign, exposure, start, end, strict)
    outcome_users = snap.events.reach(campaign, outcome, start, end, strict)
    exposed_users = materialize(_within(snap, audience, exposure_reach, exposure), budget)
    audience_count = count(audience, budget) if audience is not None else len(snap.population)
    n1, n2 = len(exposed_users), audience_count - len(exposed_users)
    x1 = exposed_users.intersection_cardinality(outcome_users)
    x2 = count(_within(snap, audience, outcome_users, outcome), budget) - x1
    result = lift_of_counts(n1, x1, n2, x2, snap.version)
    if not value_fields:
        return result
    everyone = materialize(audience, budget) if audience is not None else snap.population
    exposed = value_sums(snap, exposed_users, value_fields)
    total = value_sums(snap, everyone, value_fields)
    unexposed = tuple(ValueSum(a.field, a.kind, a.count - e.count, a.sum - e.sum)
                      for a, e in zip(total, exposed, strict=True))
    return dataclasses.replace(result, exposed_values=exposed, unexposed_values=unexposed)


Z_95 = 1.959963984540054  # the two-sided 95% quantile of the standard normal


def lift_of_counts(n1: int, x1: int, n2: int, x2: int, version: int) -> LiftResult:
    """Return the lift of exposed (n1 users, x1 with the outcome) against unexposed (n2, x2) users."""
    p1, p2 = (x1 / n1 if n1 else 0.0), (x2 / n2 if n2 else 0.0)
    pooled = (x1 + x2) / (n1 + n2) if n1 + n2 else 0.0
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2)) if n1 and n2 else 0.0
    z = (p1 - p2) / se if se else 0.0
    p_value = math.erfc(abs(z) / math.sqrt(2)) if se else 1.0
    # The interval uses the unpooled error: it describes the difference, not the null hypothesis of no difference.
    spread = Z_95 * math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2) if n1 and n2 else 0.0
    return LiftResult(n1, x1, n2, x2, p1, p2, p1 - p2, (p1 - p2) / p2 if p2 else 0.0, z, p_value, version,
                      p1 - p2 - spread, p1 - p2 + spread)


def retention(snap: Snapshot, campaign: str, cohort_event: str, return_event: str, cohort_days: list[str],
              days: int, budget: Budget, strict: bool = True) -> list[RetentionRow]:
    """For each cohort day, the users who did the return event exactly N days later, N = 1..days."""
    snap.events.check(campaign, cohort_event, strict)
    snap.events.check(campaign, return_event, strict)
    rows = []
    for day in cohort_days:
        budget.check()
        cohort = snap.events.day_bitmap(campaign, cohort_event, day)
        base = datetime.date.fromisoformat(day)
        returned = [cohort.intersection_cardinality(
            snap.events.day_bitmap(campaign, return_event, (base + datetime.timedelta(n)).isoformat()))
            for n in range(1, days + 1)]
        rows.append(RetentionRow(day, len(cohort), returned))
    return rows


def trend(snap: Snapshot, campaign: str | None, events: list[str], days: list[str],
          audience: AbstractBitMap | None, strict: bool = True) -> list[TrendSeries]:
    """Reach per day for each event, inside the audience if one is given."""
    series = []
    for event in events:
        snap.events.check(campaign, event, strict)
        counts = []
        for day in days:
            reach = snap.events.reach(campaign, event, day, day, strict)
            counts.append(audience.intersection_cardinality(reach) if audience is not None else len(reach))
        series.append(TrendSeries(event, days, counts))
    return series


def _salt_key(salt: str) -> np.uint64:
    return np.uint64(int.from_bytes(hashlib.blake2b(salt.encode(), digest_size=8).digest(), "little"))


def split_buckets(user_hashes: np.ndarray, shares: list[float], salt: str) -> np.ndarray:
    """Return each user's bucket index: splitmix64 of (the user's ID hash ^ salt) against the shares.

    The hash is of the external ID (`storage.partition.user_hashes`), so a user's part depends only on the
    user and the salt: not on load order, and the same on one node as on any cluster.
    """
    z = user_hashes.astype(np.uint64, copy=False) ^ _salt_key(salt)
    with np.errstate(over="ignore"):
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    fraction = (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    bounds = np.cumsum(shares)[:-1]
    return np.searchsorted(bounds, fraction, side="right")


def check_shares(names: list[str], shares: list[float]) -> None:
    """Raise InvalidArgumentError unless names are distinct and shares are positive and sum to 1."""
    if len(names) < 2:
        raise InvalidArgumentError("a split needs at least 2 shares, e.g. test 0.9 and holdout 0.1")
    if len(set(names)) != len(names):
        raise InvalidArgumentError("split share names must be distinct")
    if any(not s > 0 for s in shares) or abs(sum(shares) - 1.0) > 1e-6:
        raise InvalidArgumentError(f"split shares must be positive and sum to 1, got {shares}")
