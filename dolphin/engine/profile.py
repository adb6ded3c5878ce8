"""TGI profiles: which values of a dimension are over-represented in an audience."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from pyroaring import AbstractBitMap

from dolphin.engine.evaluate import Budget
from dolphin.engine.results import DimensionProfile, ProfileValue, ValueCounts
from dolphin.engine.snapshot import Snapshot, ValueCodes


def _counts_by_codes(ids: np.ndarray, audience: AbstractBitMap, codes: ValueCodes) -> dict[str, int]:
    counts, values = codes.counts(ids, audience), codes.values
    return {values[i]: int(counts[i]) for i in np.flatnonzero(counts)}


def _counts_by_intersection(audience: AbstractBitMap, tags: Mapping[str, AbstractBitMap]) -> dict[str, int]:
    counts = {value: audience.intersection_cardinality(bm) for value, bm in tags.items()}
    return {v: c for v, c in counts.items() if c}


def profile_value(value: str, count: int, audience_count: int, tag_size: int, population: int) -> ProfileValue:
    """Return one value's audience share, population share and TGI."""
    share = count / audience_count if audience_count else 0.0
    population_share = tag_size / population if population else 0.0
    tgi = 100.0 * share / population_share if population_share else 0.0
    return ProfileValue(value, count, share, population_share, tgi)


class _AudienceIds:
    """The audience as a uint32 array, built once and only if a bincount needs it."""

    def __init__(self, audience: AbstractBitMap) -> None:
        self.audience = audience
        self._ids: np.ndarray | None = None

    def get(self) -> np.ndarray:
        if self._ids is None:
            self._ids = np.frombuffer(self.audience.to_array(), dtype=np.uint32)
        return self._ids


def profile_dimensions(
    snap: Snapshot, audience: AbstractBitMap, dimensions: list[str], top_k: int, budget: Budget
) -> list[DimensionProfile]:
    """Return each dimension's values inside the audience, by descending count then value, cut at top_k."""
    audience_count = len(audience)
    population = len(snap.population)
    ids = _AudienceIds(audience)
    result = []
    for dimension in dimensions:
        budget.check()
        codes = snap.value_codes(dimension, audience_count) if audience_count else None
        tags = snap.tags.get(dimension, {})  # unknown only on a cluster shard, where it is empty
        if codes is not None:
            counts = _counts_by_codes(ids.get(), audience, codes)
        else:
            counts = _counts_by_intersection(audience, tags) if audience_count else {}
        sizes = {v: len(tags[v]) for v, _ in ranked_counts(counts, top_k)}
        result.append(dimension_profile(dimension, counts, sizes, audience_count, population, top_k))
    return result


def ranked_counts(counts: dict[str, int], top_k: int) -> list[tuple[str, int]]:
    """Return the top_k (value, count) pairs by descending count, then value."""
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:top_k]


def dimension_profile(dimension: str, counts: dict[str, int], tag_sizes: Mapping[str, int], audience_count: int,
                      population: int, top_k: int) -> DimensionProfile:
    """Return the profile of a dimension from its nonzero audience counts and its values' sizes."""
    values = [profile_value(v, c, audience_count, tag_sizes[v], population) for v, c in ranked_counts(counts, top_k)]
    return DimensionProfile(dimension, values, len(counts))


def value_counts(snap: Snapshot, audience: AbstractBitMap | None, dimensions: list[str],
                 budget: Budget) -> list[ValueCounts]:
    """Return every value of each dimension with its size and (given an audience) its users in the audience."""
    ids = _AudienceIds(audience) if audience is not None else None
    out = []
    for dimension in dimensions:
        budget.check()
        tags = snap.tags.get(dimension, {})
        values = sorted(tags)
        inside: list[int] = []
        if audience is not None and ids is not None:
            codes = snap.value_codes(dimension, len(audience)) if len(audience) else None
            if codes is not None:
                counts = _counts_by_codes(ids.get(), audience, codes)
            else:
                counts = _counts_by_intersection(audience, tags) if len(audience) else {}
            inside = [counts.get(v, 0) for v in values]
        kind = str(snap.kinds[dimension]) if dimension in snap.kinds else ""
        out.append(ValueCounts(dimension, kind, values, [len(tags[v]) for v in values], inside,
                               snap.users_with_value(dimension)))
    return out
