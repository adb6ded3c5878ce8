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


# -- the demo world: planted correlations, campaign events, embeddings ---------------------------------------------

@dataclass(frozen=True, slots=True)
class Persona:
    """A kind of user: its share of the population, how it tilts tag odds, which campaign targets it."""

    name: str
    share: float
    boosts: dict[str, dict[str, float]]  # dimension -> value -> odds multiplier


PERSONAS = [
    Persona("young_sporty", 0.13, {
        "gender": {"F": 6}, "age_band": {"18-24": 3, "25-34": 2}, "city": {"Hangzhou": 3, "杭州": 3},
        "interest": {"tennis": 10, "running": 6, "yoga": 6, "fashion": 3}, "device_os": {"ios": 2}}),
    Persona("tech", 0.13, {
        "gender": {"M": 6}, "age_band": {"25-34": 2, "35-44": 2}, "city": {"Shenzhen": 4, "Beijing": 2},
        "interest": {"tech": 10, "gaming": 6, "cars": 4, "anime": 3}, "device_os": {"android": 2}}),
    Persona("affluent_family", 0.12, {
        "age_band": {"35-44": 2.5, "45-54": 2.5}, "vip": {"true": 8},
        "member_level": {"gold": 4, "platinum": 6, "diamond": 8}, "income_band": {"income_004": 4, "income_005": 6},
        "has_children": {"true": 4}, "marital": {"married": 4}, "car_owner": {"true": 3}, "city": {"Shanghai": 3},
        "interest": {"travel": 6, "finance": 5, "photography": 3}}),
    Persona("student", 0.12, {
        "age_band": {"under_18": 4, "18-24": 4}, "marital": {"single": 4}, "income_band": {"income_000": 4},
        "education": {"high_school": 3, "college": 3}, "interest": {"anime": 6, "gaming": 4, "music": 4}}),
    Persona("retiree", 0.10, {
        "age_band": {"55-64": 6, "65+": 6}, "pet_owner": {"true": 3}, "device_os": {"harmonyos": 2, "other": 3},
        "interest": {"reading": 6, "cooking": 5, "hiking": 3}}),
    Persona("general", 0.40, {}),
]
# Data, not markup: values and a dimension name that a careless front end would run or break on.
HOSTILE_DIMENSION = "<i>note</i>"
HOSTILE_VALUES = ['<script>window.__dolphinXss=1</script>', '"><img src=x onerror="window.__dolphinXss=2">',
                  "O'Brien & \"Sons\"", "{{constructor.constructor('window.__dolphinXss=3')()}}", "plain"]
# campaign -> (persona it targets, its events in funnel order, conversion odds multiplier of VIPs)
CAMPAIGNS = {"spring_tennis": "young_sporty", "gadget_launch": "tech", "brand_week": ""}
DEMO_DAYS = 14
DEMO_FIRST_DAY = "2026-11-01"
VECTOR_DIM = 16


@dataclass(frozen=True)
class DemoWorld:
    """Everything `dolphin demo` loads: wide tags, campaign events and user embeddings."""

    tags: pl.DataFrame  # user_id + one column per dimension
    events: pl.DataFrame  # user_id, campaign, event, date
    vectors: pl.DataFrame  # user_id, embedding (VECTOR_DIM floats)


# In these dimensions a value one persona favours is rarer in the others: without that, popular values (tennis is
# the commonest interest) are everywhere and every TGI stays near 100.
DAMPED = {"interest": 0.2, "city": 0.5, "member_level": 0.5, "income_band": 0.5, "vip": 0.4}


def _tilted(dim: Dim, boosts: dict[str, float]) -> np.ndarray:
    favoured = {v for persona in PERSONAS for v in persona.boosts.get(dim.name, {})}
    damped = DAMPED.get(dim.name, 1.0)
    probabilities = _zipf_probabilities(len(dim.values), dim.zipf)
    probabilities = probabilities * np.array([boosts.get(v, damped if v in favoured else 1.0) for v in dim.values])
    return np.asarray(probabilities / probabilities.sum(), dtype=np.float64)


def _single_by_persona(rng: np.random.Generator, dim: Dim, persona: np.ndarray) -> pa.Array:
    codes = np.zeros(len(persona), dtype=np.int32)
    for p, kind in enumerate(PERSONAS):
        who = np.flatnonzero(persona == p)
        codes[who] = rng.choice(len(dim.values), size=len(who), p=_tilted(dim, kind.boosts.get(dim.name, {})))
    mask = rng.random(len(persona)) < dim.null_share if dim.null_share else None
    if dim.values == ["false", "true"]:
        return pa.array(codes.astype(bool), mask=mask)
    return pa.DictionaryArray.from_arrays(pa.array(codes, mask=mask), pa.array(dim.values))


def _multi_by_persona(rng: np.random.Generator, dim: Dim, persona: np.ndarray) -> tuple[pa.Array, np.ndarray,
                                                                                       np.ndarray]:
    """Return the list column, and each slot's user and value code (for embeddings)."""
    counts = np.minimum(rng.poisson(dim.per_user, size=len(persona)), 3 * int(dim.per_user) + 5)
    offsets = np.zeros(len(persona) + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    slot_user = np.repeat(np.arange(len(persona)), counts)
    codes = np.zeros(len(slot_user), dtype=np.int32)
    for p, kind in enumerate(PERSONAS):
        slots = np.flatnonzero(persona[slot_user] == p)
        codes[slots] = rng.choice(len(dim.values), size=len(slots), p=_tilted(dim, kind.boosts.get(dim.name, {})))
    values = pa.DictionaryArray.from_arrays(pa.array(codes), pa.array(dim.values))
    return pa.ListArray.from_arrays(pa.array(offsets), values), slot_user, codes


def _has(column: pa.Array, value: str) -> np.ndarray:
    """Return a bool per user: its single value equals value (nulls are False)."""
    series = pl.from_arrow(column)
    assert isinstance(series, pl.Series)
    if series.dtype == pl.Boolean:
        return np.asarray(series.fill_null(False).to_numpy() == (value == "true"))
    return np.asarray((series.cast(pl.String) == value).fill_null(False).to_numpy())


def _events(rng: np.random.Generator, user_ids: np.ndarray, persona: np.ndarray, likes: dict[str, np.ndarray],
            vip: np.ndarray) -> pl.DataFrame:
    """Impressions aimed at a persona, clicks from users whose interests fit, conversions lifted by exposure."""
    first = np.datetime64(DEMO_FIRST_DAY)
    fits = {"spring_tennis": likes["tennis"] | likes["running"], "gadget_launch": likes["tech"] | likes["gaming"],
            "brand_week": np.ones(len(user_ids), dtype=bool)}
    frames = []
    for campaign, target in CAMPAIGNS.items():
        aimed = np.full(len(user_ids), 0.04)
        if target:
            aimed[persona == [p.name for p in PERSONAS].index(target)] = 0.25
        for day in range(DEMO_DAYS):
            ramp = min(1.0, 0.35 + 0.1 * day) * (0.75 if day % 7 in (5, 6) else 1.0)  # launch ramp, weekend dip
            seen = rng.random(len(user_ids)) < aimed * ramp
            clicked = seen & (rng.random(len(user_ids)) < np.where(fits[campaign], 0.18, 0.03))
            converted = (clicked & (rng.random(len(user_ids)) < np.where(vip, 0.45, 0.2))) | (
                rng.random(len(user_ids)) < np.where(fits[campaign], 0.004, 0.001))  # some convert unexposed
            date = first + np.timedelta64(day, "D")
            for event, who in (("impression", seen), ("click", clicked), ("conversion", converted)):
                if campaign == "brand_week" and event == "conversion":
                    continue
                frames.append(pl.DataFrame({"user_id": user_ids[who], "campaign": campaign, "event": event,
                                            "date": np.full(int(who.sum()), date)}))
    return pl.concat(frames).with_columns(pl.col("date").cast(pl.Date))


def _vectors(rng: np.random.Generator, persona: np.ndarray, slot_user: np.ndarray,
             slot_code: np.ndarray, n_values: int) -> np.ndarray:
    """Return a vector per user: its persona's centre, plus its interests, plus noise."""
    centres = rng.standard_normal((len(PERSONAS), VECTOR_DIM)).astype(np.float32) * 1.5
    flavours = rng.standard_normal((n_values, VECTOR_DIM)).astype(np.float32) * 0.5
    vectors = centres[persona] + rng.standard_normal((len(persona), VECTOR_DIM)).astype(np.float32)
    np.add.at(vectors, slot_user, flavours[slot_code])
    return np.asarray(vectors, dtype=np.float32)


def demo_world(n_users: int, *, seed: int = 0) -> DemoWorld:
    """Return the demo's users with planted correlations (personas), three campaigns' events and embeddings.

    Unlike `generate`, tags are not independent: a profile of `interest=tennis` shows women, Hangzhou and iOS
    over-represented, `spring_tennis` converts VIPs and tennis fans, and a lookalike of a persona finds more of it.
    A dimension with hostile text (HOSTILE_DIMENSION) keeps front ends honest.
    """
    rng = np.random.default_rng(seed)
    persona = rng.choice(len(PERSONAS), size=n_users, p=[p.share for p in PERSONAS])
    user_ids = 10_000_000 + rng.permutation(n_users).astype(np.int64) * 7
    columns: dict[str, pa.Array] = {"user_id": pa.array(user_ids)}
    interest = next(d for d in DIMENSIONS if d.name == "interest")
    slot_user = slot_code = np.zeros(0, dtype=np.int64)
    for dim in DIMENSIONS:
        if dim.per_user:
            columns[dim.name], users, codes = _multi_by_persona(rng, dim, persona)
            if dim is interest:
                slot_user, slot_code = users, codes
        else:
            columns[dim.name] = _single_by_persona(rng, dim, persona)
    note = rng.choice(len(HOSTILE_VALUES), size=n_users)
    columns[HOSTILE_DIMENSION] = pa.array(np.array(HOSTILE_VALUES, dtype=object)[note], mask=rng.random(n_users) < 0.5)
    # numeric fields: affluent families spend most, students least; half the users bought nothing this month
    wealth = np.array([1.0, 1.2, 3.0, 0.4, 0.8, 1.0])[persona]
    cents = np.round(rng.lognormal(8.0, 1.1, n_users) * wealth)
    columns["spend_30d"] = pa.array(cents / 100, mask=rng.random(n_users) < 0.5)
    days = (np.datetime64("2026-11-14") - rng.integers(0, 365, n_users).astype("timedelta64[D]")).astype(
        "datetime64[D]")
    columns["last_order"] = pa.array(days, mask=rng.random(n_users) < 0.3)
    tags = pl.from_arrow(pa.table(columns))
    assert isinstance(tags, pl.DataFrame)
    likes = {name: np.zeros(n_users, dtype=bool) for name in ("tennis", "running", "tech", "gaming")}
    for name in likes:
        likes[name][slot_user[slot_code == interest.values.index(name)]] = True
    events = _events(rng, user_ids, persona, likes, _has(columns["vip"], "true"))
    vectors = _vectors(rng, persona, slot_user, slot_code, len(interest.values))
    return DemoWorld(tags, events, pl.DataFrame({"user_id": user_ids, "embedding": vectors}))


def numeric_columns(user_ids: np.ndarray, *, seed: int = 0) -> pl.DataFrame:
    """Return numeric fields of users, for the benchmark: age (0-99), spend_30d (2 places, heavy-tailed, 60% null)
    and score (4 places, 0-1)."""
    rng = np.random.default_rng(seed)
    n = len(user_ids)
    age = rng.integers(0, 100, n).astype(np.int8)
    cents = pl.Series(np.minimum(np.round(rng.pareto(1.2, n) * 2500), 10**9).astype(np.int64))
    text = (cents // 100).cast(pl.String) + "." + (cents % 100).cast(pl.String).str.zfill(2)  # exact decimals
    spend = pl.when(pl.Series(rng.random(n) < 0.6)).then(None).otherwise(text.cast(pl.Decimal(18, 2)))
    return pl.DataFrame({"user_id": pl.Series(user_ids, dtype=pl.Int64), "age": age,
                         "score": np.round(rng.random(n), 4)}).with_columns(spend_30d=spend).select(
        "user_id", "age", "spend_30d", "score")
