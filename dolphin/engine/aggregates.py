"""Aggregates of numeric fields over an audience: count, sum, mean, min, max, standard deviation, exact
percentiles and histograms, all from the bit-sliced index (sums from popcounts, never by decoding values).

Figures are exact integers in the field's stored units (dolphin.storage.numbers); the server formats them as
decimal text with doubles beside. Only users of the audience that have a value count, as SQL aggregates
skip NULLs.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from pyroaring import AbstractBitMap

from dolphin.engine.bsi import Field, lower_bound, ranks_of
from dolphin.engine.evaluate import Budget
from dolphin.errors import InvalidArgumentError, QueryLimitError
from dolphin.storage import DimensionKind
from dolphin.storage.numbers import exact_value, format_exact, format_value, to_float

MAX_PERCENTILES = 100
MAX_CUT_POINTS = 1000
DEFAULT_BUCKETS = 10


class Statistic(enum.StrEnum):
    """One figure Aggregate can compute."""

    COUNT = "count"
    SUM = "sum"
    MEAN = "mean"
    MIN = "min"
    MAX = "max"
    STDDEV = "stddev"
    HISTOGRAM = "histogram"  # with no cut points: DEFAULT_BUCKETS equal-width buckets from min to max


ALL_STATISTICS = frozenset(Statistic)


@dataclass(frozen=True, slots=True)
class Bucket:
    """Users with lower <= value < upper (None: unbounded), in stored units (bounds may be fractional)."""

    lower: Fraction | None
    upper: Fraction | None
    count: int


@dataclass(frozen=True, slots=True)
class FieldAggregate:
    """One field's figures over the users of an audience that have a value; None where not asked for."""

    name: str
    kind: DimensionKind
    count: int
    sum: int | None = None
    minimum: int | None = None
    maximum: int | None = None
    sum_of_squares: int | None = None
    percentiles: list[tuple[float, int]] = field(default_factory=list)
    histogram: list[Bucket] = field(default_factory=list)
    mean_wanted: bool = False

    @property
    def mean(self) -> Fraction | None:
        """Return the exact mean in stored units (None without values or a sum)."""
        return Fraction(self.sum, self.count) if self.sum is not None and self.count else None

    @property
    def stddev(self) -> float | None:
        """Return the sample standard deviation in the field's units (None when not asked for)."""
        if self.sum_of_squares is None or self.sum is None:
            return None
        if self.count < 2:
            return 0.0
        variance = Fraction(self.sum_of_squares * self.count - self.sum * self.sum, self.count * (self.count - 1))
        return float(math.sqrt(variance) / 10**self.kind.scale)


@dataclass(frozen=True, slots=True)
class ValueSum:
    """A numeric field's users and exact sum over one group (a funnel stage, lift's exposed users)."""

    field: str
    kind: DimensionKind
    count: int
    sum: int

    @property
    def mean(self) -> Fraction | None:
        """Return the exact mean in stored units, or None for no users."""
        return Fraction(self.sum, self.count) if self.count else None


def value_sum(index: Field, users: AbstractBitMap) -> ValueSum:
    """Return the field's count and exact sum over users (popcounts of the slices)."""
    valued = users & index.exists
    return ValueSum(index.name, index.kind, len(valued), index.total(valued))


@dataclass(frozen=True, slots=True)
class AggregateResult:
    """Aggregate's answer: the audience's size and one FieldAggregate per field."""

    audience_count: int
    fields: list[FieldAggregate]
    snapshot_version: int


def check_request(percentiles: Sequence[float], cut_points: Sequence[str], statistics: Sequence[str]) -> set[Statistic]:
    """Return the statistics asked for, or raise InvalidArgumentError / QueryLimitError naming the bad field."""
    if len(percentiles) > MAX_PERCENTILES:
        raise QueryLimitError("percentile count", len(percentiles), MAX_PERCENTILES, "max_percentiles")
    if len(cut_points) > MAX_CUT_POINTS:
        raise QueryLimitError("cut point count", len(cut_points), MAX_CUT_POINTS, "max_cut_points")
    for p in percentiles:
        if not 0 <= p <= 100 or math.isnan(p):
            raise InvalidArgumentError(f"percentiles are 0 to 100 (e.g. 50, 90, 99), got {p}")
    wanted = set()
    for name in statistics:
        try:
            wanted.add(Statistic(name))
        except ValueError:
            names = ", ".join(s.value for s in Statistic)
            raise InvalidArgumentError(f"unknown statistic {name!r}; use {names}") from None
    return wanted or set(ALL_STATISTICS)


def cut_values(kind: DimensionKind, name: str, cut_points: Sequence[str]) -> list[Fraction]:
    """Return cut points in stored units, ascending; InvalidArgumentError naming a bad or unsorted one."""
    cuts = []
    for text in cut_points:
        try:
            cuts.append(exact_value(kind, text))
        except ValueError as exc:
            raise InvalidArgumentError(f'cut point {exc}; "{name}" is a {kind} field') from None
    if any(b <= a for a, b in zip(cuts, cuts[1:], strict=False)):
        raise InvalidArgumentError(f"cut points must ascend strictly, got {', '.join(cut_points)}")
    return cuts


def histogram(index: Field, users: AbstractBitMap, cuts: list[Fraction], budget: Budget) -> list[Bucket]:
    """Return the buckets (-inf, c1), [c1, c2), ..., [ck, +inf) with their users' counts."""
    budget.check()
    below = index.counts_less_than(users, [lower_bound(cut, True) for cut in cuts])
    return buckets_of(cuts, below, len(users))


def default_cuts(minimum: int, maximum: int) -> list[Fraction]:
    """Return the inner cut points of DEFAULT_BUCKETS equal-width buckets from minimum to maximum."""
    if minimum == maximum:
        return []
    width = Fraction(maximum - minimum, DEFAULT_BUCKETS)
    return [minimum + width * i for i in range(1, DEFAULT_BUCKETS)]


def aggregate_field(index: Field, audience: AbstractBitMap, percentiles: Sequence[float], cuts: list[Fraction],
                    wanted: set[Statistic], budget: Budget) -> FieldAggregate:
    """Return one field's figures over the audience's users that have a value.

    A histogram is made when cut points are given, or when HISTOGRAM is wanted (then, without cut points,
    DEFAULT_BUCKETS equal-width buckets between the users' min and max).
    """
    users = audience & index.exists
    count = len(users)
    budget.check()
    total = index.total(users) if wanted & {Statistic.SUM, Statistic.MEAN, Statistic.STDDEV} else None
    default_histogram = Statistic.HISTOGRAM in wanted and not cuts
    extremes = count and (wanted & {Statistic.MIN, Statistic.MAX} or default_histogram)
    budget.check()
    minimum = index.minimum(users) if extremes else None
    maximum = index.maximum(users) if extremes else None
    budget.check()
    squares = index.sum_of_squares(users) if Statistic.STDDEV in wanted else None
    budget.check()
    ranked = list(zip(percentiles, index.kths(users, ranks_of(percentiles, count)), strict=True)) if count else []
    if default_histogram and minimum is not None and maximum is not None:
        cuts = default_cuts(minimum, maximum)
    buckets = histogram(index, users, cuts, budget) if cuts or default_histogram else []
    return FieldAggregate(index.name, index.kind, count, total,
                          minimum if Statistic.MIN in wanted else None,
                          maximum if Statistic.MAX in wanted else None, squares, ranked, buckets,
                          Statistic.MEAN in wanted)


def number_text(kind: DimensionKind, value: int | Fraction | None) -> tuple[str, float]:
    """Return a stored value as (exact text, double) in the field's units; ("", 0.0) for None."""
    if value is None:
        return "", 0.0
    text = format_value(kind, value) if isinstance(value, int) else format_exact(kind, value)
    return text, to_float(kind, value)


def sum_text(kind: DimensionKind, value: int) -> tuple[str, float]:
    """Return a sum as (exact text, double): in the field's units, or days / seconds for dates and timestamps
    (a sum of dates is not a date)."""
    if kind in (DimensionKind.DATE, DimensionKind.TIMESTAMP):
        return str(value), float(value)
    return number_text(kind, value)


def stored_sum(kind: DimensionKind, text: str) -> int:
    """Return the stored integer of a sum's exact text (sum_text's inverse)."""
    if kind in (DimensionKind.DATE, DimensionKind.TIMESTAMP):
        return int(text)
    return int(exact_value(DimensionKind(kind), text))


def bound_text(kind: DimensionKind, value: Fraction | None) -> str:
    """Return a bucket bound as text in the field's units ("" when unbounded)."""
    return "" if value is None else format_exact(kind, value)


def field_kind(text: str) -> DimensionKind:
    """Return the kind named by text (e.g. "decimal(2)"); the server gets kinds from the engine this way."""
    return DimensionKind(text)


@dataclass(frozen=True, slots=True)
class FieldPart:
    """A field's exact partial aggregate over one shard's users, in stored integers (what a cluster adds up)."""

    name: str
    kind: str  # "" when this shard lacks the field
    count: int
    sum: int | None = None
    minimum: int | None = None
    maximum: int | None = None
    sum_of_squares: int | None = None
    below: list[int] = field(default_factory=list)  # users with a value below each threshold
    bits: int = 0
    index_bytes: int = 0


def field_part(index: Field, audience: AbstractBitMap, thresholds: list[int], *, sums: bool, extremes: bool,
               squares: bool, budget: Budget) -> FieldPart:
    """Return a field's partial aggregate over the audience's users that have a value."""
    users = audience & index.exists
    budget.check()
    below = index.counts_less_than(users, thresholds)
    return FieldPart(index.name, str(index.kind), len(users), index.total(users) if sums else None,
                     index.minimum(users) if extremes and users else None,
                     index.maximum(users) if extremes and users else None,
                     index.sum_of_squares(users) if squares else None, below)


def buckets_of(cuts: list[Fraction], below: list[int], count: int) -> list[Bucket]:
    """Return the histogram buckets of cut points from the counts below each cut (and the total)."""
    edges: list[Fraction | None] = [None, *cuts, None]
    cumulative = [0, *below, count]
    return [Bucket(edges[i], edges[i + 1], cumulative[i + 1] - cumulative[i]) for i in range(len(cuts) + 1)]
