"""Profiles of numeric fields: the audience's users per value bucket, with shares and TGI like a dimension's.

Buckets are (-inf, c1), [c1, c2), ..., [ck, +inf): between the cut points asked for, or by default at the
population's deciles, so each default bucket holds about a tenth of the users with a value. The population's
deciles and bucket sizes are computed once per snapshot.
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction

from pyroaring import AbstractBitMap

from dolphin.engine.aggregates import Bucket, bound_text, cut_values, histogram
from dolphin.engine.bsi import ranks_of
from dolphin.engine.evaluate import Budget
from dolphin.engine.profile import profile_value
from dolphin.engine.results import DimensionProfile
from dolphin.engine.snapshot import Snapshot
from dolphin.storage import DimensionKind

DECILES = [10, 20, 30, 40, 50, 60, 70, 80, 90]


def population_deciles(snap: Snapshot, name: str) -> list[Fraction]:
    """Return the distinct deciles of a field over every user with a value (ascending)."""
    index = snap.numeric(name)
    count = len(index.exists)
    if not count:
        return []
    values = sorted({index.kth(index.exists, rank) for rank in ranks_of(DECILES, count)})
    return [Fraction(v) for v in values if v > index.minimum(index.exists)] if values else []


def bucket_label(lower: str, upper: str) -> str:
    """Return a bucket as "[lower, upper)", with -inf or +inf for an unbounded end."""
    return f"{'[' + lower if lower else '(-inf'}, {upper or '+inf'})"


def numeric_profile(snap: Snapshot, audience: AbstractBitMap, name: str, cut_points: list[str] | None,
                    budget: Budget) -> DimensionProfile:
    """Return the profile of a numeric field: one value per bucket, in ascending order."""
    index = snap.numeric(name)
    cuts = cut_values(index.kind, name, cut_points) if cut_points else snap.memo(
        name, "deciles", lambda: population_deciles(snap, name))
    sizes = snap.memo(name, ("buckets", tuple(cuts)), lambda: histogram(index, index.exists, cuts, budget))
    inside = histogram(index, audience & index.exists, cuts, budget)
    return bucket_profile(name, index.kind, inside, sizes, len(audience), len(snap.population))


def bucket_profile(name: str, kind: DimensionKind, inside: list[Bucket], sizes: list[Bucket], audience_count: int,
                   population: int) -> DimensionProfile:
    """Return a numeric field's profile from its buckets' users in the audience and in the population."""
    values = []
    for bucket, size in zip(inside, sizes, strict=True):
        lower, upper = bound_text(kind, bucket.lower), bound_text(kind, bucket.upper)
        value = profile_value(bucket_label(lower, upper), bucket.count, audience_count, size.count, population)
        values.append(dataclasses.replace(value, lower=lower, upper=upper))
    return DimensionProfile(name, values, len(values))
