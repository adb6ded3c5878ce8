"""TGI profiles: which values of a dimension are over-represented in an audience."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from pyroaring import AbstractBitMap

from dolphin.engine.evaluate import Budget
from dolphin.engine.results import DimensionProfile, ProfileValue
from dolphin.engine.snapshot import Snapshot


def _counts_by_codes(audience_ids: np.ndarray, codes: np.ndarray, values: list[str]) -> dict[str, int]:
    counts = np.bincount(codes[audience_ids], minlength=len(values) + 1)
    nonzero = np.flatnonzero(counts[1:])
    return {values[i]: int(counts[i + 1]) for i in nonzero}


def _counts_by_intersection(audience: AbstractBitMap, tags: Mapping[str, AbstractBitMap]) -> dict[str, int]:
    counts = {value: audience.intersection_cardinality(bm) for value, bm in tags.items()}
    return {v: c for v, c in counts.items() if c}


def _profile_value(value: str, count: int, audience_count: int, tag_size: int, population: int) -> ProfileValue:
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
        codes = snap.value_codes(dimension) if audience_count else None
        tags = snap.tags[dimension]
        if codes is not None:
            counts = _counts_by_codes(ids.get(), *codes)
        else:
            counts = _counts_by_intersection(audience, tags) if audience_count else {}
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:top_k]
        values = [_profile_value(v, c, audience_count, len(tags[v]), population) for v, c in ranked]
        result.append(DimensionProfile(dimension, values, len(counts)))
    return result
