"""The one synthetic data generator: Zipf-distributed single- and multi-valued user tags.

Used by `dolphin demo`, the tests and bench/. Vectorised (NumPy + Arrow), so 10M users take seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa

FIRST_CITIES = ["Hangzhou", "Shanghai", "Beijing", "Shenzhen", "Guangzhou", "杭州", "San Francisco", "Xi'an",
                "Chengdu", "Wuhan", "Nanjing", "Tianjin"]
INTERESTS = ["tennis", "running", "cooking", "travel", "gaming", "photography", "music", "reading", "fashion",
             "football", "basketball", "yoga", "hiking", "movies", "anime", "cars", "beauty", "pets", "tech",
             "finance"]


@dataclass(frozen=True, slots=True)
class Dim:
    """A generated dimension: its values, Zipf exponent, share of users with no value, mean values per user."""

    name: str
    values: list[str]
    zipf: float = 1.0
    null_share: float = 0.0
    per_user: float = 0.0  # > 0 makes it multi-valued


def _named(prefix: str, n: int, first: list[str] | None = None) -> list[str]:
    first = first or []
    return first[:n] + [f"{prefix}_{i:03d}" for i in range(len(first), n)]


DIMENSIONS = [
    Dim("gender", ["F", "M", "U"], zipf=0.05, null_share=0.02),
    Dim("age_band", ["18-24", "25-34", "35-44", "45-54", "55-64", "65+", "under_18"], zipf=0.6),
    Dim("city", _named("city", 300, FIRST_CITIES), zipf=1.05, null_share=0.03),
    Dim("province", _named("province", 34), zipf=0.9, null_share=0.03),
    Dim("device_os", ["android", "ios", "harmonyos", "other"], zipf=1.2),
    Dim("device_brand", _named("brand", 30), zipf=1.1, null_share=0.05),
    Dim("vip", ["false", "true"], zipf=3.0),
    Dim("member_level", ["bronze", "silver", "gold", "platinum", "diamond"], zipf=1.6, null_share=0.4),
    Dim("income_band", _named("income", 6), zipf=0.7, null_share=0.2),
    Dim("education", ["high_school", "college", "bachelor", "master", "phd"], zipf=0.9, null_share=0.3),
    Dim("marital", ["single", "married", "other"], zipf=0.8, null_share=0.3),
    Dim("has_children", ["false", "true"], zipf=0.5, null_share=0.3),
    Dim("channel", _named("channel", 12), zipf=1.1),
    Dim("language", _named("lang", 20), zipf=2.0),
    Dim("ltv_band", _named("ltv", 10), zipf=0.8, null_share=0.1),
    Dim("occupation", _named("occupation", 40), zipf=1.0, null_share=0.35),
    Dim("car_owner", ["false", "true"], zipf=1.0, null_share=0.5),
    Dim("pet_owner", ["false", "true"], zipf=1.0, null_share=0.5),
    Dim("interest", _named("interest", 200, INTERESTS), zipf=1.0, per_user=3.0),
    Dim("app_category", _named("apps", 100), zipf=1.1, per_user=1.5),
    Dim("brand_affinity", _named("affinity", 250), zipf=1.2, per_user=1.0),
]


def _zipf_probabilities(n: int, exponent: float) -> np.ndarray:
    weights = 1.0 / np.arange(1, n + 1) ** exponent
    return np.asarray(weights / weights.sum(), dtype=np.float64)


def _single(rng: np.random.Generator, dim: Dim, n_users: int) -> pa.Array:
    codes = rng.choice(len(dim.values), size=n_users, p=_zipf_probabilities(len(dim.values), dim.zipf))
    mask = rng.random(n_users) < dim.null_share if dim.null_share else None
    if dim.values == ["false", "true"]:
        return pa.array(codes.astype(bool), mask=mask)
    indices = pa.array(codes.astype(np.int32), mask=mask)
    return pa.DictionaryArray.from_arrays(indices, pa.array(dim.values))


def _multi(rng: np.random.Generator, dim: Dim, n_users: int) -> pa.Array:
    counts = np.minimum(rng.poisson(dim.per_user, size=n_users), 3 * int(dim.per_user) + 5)
    offsets = np.zeros(n_users + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    codes = rng.choice(len(dim.values), size=int(offsets[-1]), p=_zipf_probabilities(len(dim.values), dim.zipf))
    values = pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)), pa.array(dim.values))
    return pa.ListArray.from_arrays(pa.array(offsets), values)


def generate(n_users: int, *, seed: int = 0, dimensions: list[Dim] | None = None) -> pl.DataFrame:
    """Return a wide frame: user_id (int64) and one column per dimension (lists for multi-valued ones)."""
    rng = np.random.default_rng(seed)
    dims = DIMENSIONS if dimensions is None else dimensions
    user_ids = 10_000_000 + rng.permutation(n_users).astype(np.int64) * 7
    columns = {"user_id": pa.array(user_ids)}
    for dim in dims:
        columns[dim.name] = _multi(rng, dim, n_users) if dim.per_user else _single(rng, dim, n_users)
    frame = pl.from_arrow(pa.table(columns))
    assert isinstance(frame, pl.DataFrame)
    return frame
