"""Shared test worlds: campaign events with a known effect (ad effect), clustered embeddings (lookalike)."""

from __future__ import annotations

import datetime
import pathlib

import numpy as np
import polars as pl

from dolphin.demo import generate
from loaders.embeddings import load_embeddings
from loaders.events import load_events
from loaders.tags import load_tags

AD_USERS = 4000
DAYS = [(datetime.date(2026, 11, 1) + datetime.timedelta(d)) for d in range(10)]


def make_events(users: np.ndarray, campaigns: list[str], days: list[datetime.date], seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    rows: list[pl.DataFrame] = []
    for campaign in campaigns:
        for day in days:
            seen = users[rng.random(len(users)) < 0.3]
            clicked = seen[rng.random(len(seen)) < 0.2]
            converted_exposed = clicked[rng.random(len(clicked)) < 0.4]
            converted_other = users[rng.random(len(users)) < 0.01]
            for event, who in (("impression", seen), ("click", clicked),
                               ("conversion", np.concatenate([converted_exposed, converted_other]))):
                repeats = np.repeat(who, 1 + (rng.random(len(who)) < 0.2))  # repeated events count once
                rows.append(pl.DataFrame({"user_id": repeats, "campaign": campaign, "event": event,
                                          "date": [day] * len(repeats), "cost": 1.5}))
    # 30 users who only ever clicked: a click without an impression is not a funnel click
    rows.append(pl.DataFrame({"user_id": users[:30], "campaign": campaigns[0], "event": "click",
                              "date": [days[0]] * 30, "cost": 0.0}))
    return pl.concat(rows)


def make_numbers(users: np.ndarray, seed: int) -> pl.DataFrame:
    """Numeric fields of users: spend (2 places, heavy tail, refunds, 60% null), age (0-119), last_seen (date)."""
    rng = np.random.default_rng(seed)
    spend = np.round(rng.pareto(1.4, len(users)) * 25, 2) * np.where(rng.random(len(users)) < 0.05, -1, 1)
    age = rng.integers(0, 120, len(users))
    seen = [datetime.date(2026, 1, 1) + datetime.timedelta(int(d)) for d in rng.integers(0, 300, len(users))]
    return pl.DataFrame({"user_id": users, "spend": spend, "age": age, "last_seen": seen}).with_columns(
        pl.when(pl.Series(rng.random(len(users)) < 0.6)).then(None).otherwise(pl.col("spend")).alias("spend"))


def build_ad_world(root: pathlib.Path) -> dict[str, object]:
    """Tags of AD_USERS generated users, two campaigns' events and numeric fields, loaded into root/data."""
    tags = generate(AD_USERS, seed=11)
    tags.write_parquet(root / "tags.parquet")
    users = tags["user_id"].to_numpy()
    events = make_events(users, ["c1", "c2"], DAYS, seed=5)
    events.write_parquet(root / "events.parquet")
    numbers = make_numbers(users, seed=23)
    numbers.write_parquet(root / "numbers.parquet")
    load_tags([str(root / "tags.parquet")], root / "data", shard_bits=10)
    load_events([str(root / "events.parquet")], root / "data", shard_bits=10)
    load_tags([str(root / "numbers.parquet")], root / "data", shard_bits=10)
    return {"root": root, "data": root / "data", "events": events, "tags": tags, "numbers": numbers}


def reach(events: pl.DataFrame, campaign: str | None, event: str, start: str, end: str) -> set[str]:
    frame = events.filter((pl.col("event") == event)
                          & (pl.col("date") >= datetime.date.fromisoformat(start))
                          & (pl.col("date") <= datetime.date.fromisoformat(end)))
    if campaign:
        frame = frame.filter(pl.col("campaign") == campaign)
    return {str(u) for u in frame["user_id"].unique().to_list()}


# -- lookalike --------------------------------------------------------------------

N, DIM, CLUSTERS, PLANTED = 20_000, 16, 40, 7


def build_lookalike_world(root: pathlib.Path) -> dict[str, object]:
    """N users in CLUSTERS Gaussian clusters with a planted seed, tags and an IVF index loaded into root/data."""
    rng = np.random.default_rng(3)
    centers = rng.standard_normal((CLUSTERS, DIM)).astype(np.float32) * 2
    cluster = rng.integers(0, CLUSTERS, N)
    vectors = centers[cluster] + rng.standard_normal((N, DIM)).astype(np.float32)
    user_ids = np.arange(N, dtype=np.int64) * 11 + 5
    members = np.flatnonzero(cluster == PLANTED)
    hidden = set(rng.choice(members, len(members) // 5, replace=False).tolist())
    seed = [m for m in members if m not in hidden]
    region = rng.choice(["north", "south", "east", "west", "centre"], N)
    tags = pl.DataFrame({"user_id": user_ids, "region": region,
                         "seed_group": ["yes" if s else None for s in np.isin(np.arange(N), seed)]})
    tags.write_parquet(root / "tags.parquet")
    # 1,000 users have a vector and no tags: still known users
    extra_ids = np.arange(N, N + 1000, dtype=np.int64) * 11 + 5
    extra = rng.standard_normal((1000, DIM)).astype(np.float32)
    pl.DataFrame({"user_id": np.concatenate([user_ids, extra_ids]),
                  "embedding": np.concatenate([vectors, extra]).tolist()}).write_parquet(root / "vectors.parquet")
    load_tags([str(root / "tags.parquet")], root / "data", shard_bits=12)
    load_embeddings([str(root / "vectors.parquet")], root / "data", index="ivf", nlist=64, shard_bits=12)
    unit = np.concatenate([vectors, extra])
    unit = unit / np.linalg.norm(unit, axis=1, keepdims=True)
    return {"root": root, "data": root / "data", "unit": unit, "ids": np.concatenate([user_ids, extra_ids]),
            "hidden": {str(user_ids[h]) for h in hidden}, "seed": {str(user_ids[s]) for s in seed},
            "region": dict(zip(map(str, user_ids), region, strict=True)), "members": len(members)}


# -- every kind of data in one dir (HTTP API, console) -------------------------------

def build_full_world(root: pathlib.Path) -> dict[str, object]:
    """The ad world's tags, events and numeric fields plus an 8-dimension embedding per user, loaded into
    root/data."""
    world = build_ad_world(root)
    tags = world["tags"]
    assert isinstance(tags, pl.DataFrame)
    rng = np.random.default_rng(13)
    vectors = rng.standard_normal((tags.height, 8)).astype(np.float32)
    pl.DataFrame({"user_id": tags["user_id"], "embedding": vectors.tolist()}).write_parquet(root / "vectors.parquet")
    load_embeddings([str(root / "vectors.parquet")], root / "data", index="flat", shard_bits=10)
    return world


# -- the demo world (console) ---------------------------------------------------------

def build_demo_world(root: pathlib.Path, users: int = 6000) -> dict[str, object]:
    """`dolphin demo`'s world (personas, campaigns, embeddings, hostile text) at a test size, loaded into root/data."""
    from dolphin.demo import demo_world

    world = demo_world(users, seed=1)
    world.tags.write_parquet(root / "tags.parquet")
    world.events.write_parquet(root / "events.parquet")
    world.vectors.write_parquet(root / "vectors.parquet")
    load_tags([str(root / "tags.parquet")], root / "data", shard_bits=10)
    load_events([str(root / "events.parquet")], root / "data", shard_bits=10)
    load_embeddings([str(root / "vectors.parquet")], root / "data", index="flat", shard_bits=10)
    return {"root": root, "data": root / "data", "world": world}


# -- numeric fields ---------------------------------------------------------------------

NUMERIC_USERS = 3000
HUGE = 2**63 - 1


def numeric_frame(users: int = NUMERIC_USERS, seed: int = 17) -> pl.DataFrame:
    """Users with tags and numeric columns: nulls, zeros, negatives, decimals, dates, timestamps, 63-bit values."""
    rng = np.random.default_rng(seed)
    ids = rng.permutation(users).astype(np.int64) * 13 + 1000
    age = rng.integers(0, 100, users)
    spend = np.round(rng.pareto(1.3, users) * 40, 2) * np.where(rng.random(users) < 0.08, -1, 1)
    spend[rng.random(users) < 0.03] = 0.0
    score = np.round(rng.random(users), 4)
    days = rng.integers(0, 400, users)
    huge = rng.integers(-HUGE, HUGE, users, endpoint=True)
    huge[:3] = [HUGE, -HUGE, 0]
    frame = pl.DataFrame({
        "user_id": ids,
        "gender": rng.choice(["F", "M"], users),
        "city": rng.choice(["Hangzhou", "Shanghai", "Beijing"], users),
        "interest": [list(rng.choice(["tennis", "golf", "chess"], rng.integers(0, 3), replace=False))
                     for _ in range(users)],
        "age": pl.Series(age, dtype=pl.Int16),
        "spend_30d": spend,
        "score": score,
        "last_order": [datetime.date(2025, 11, 1) + datetime.timedelta(int(d)) for d in days],
        "signup": [datetime.datetime(2024, 1, 1) + datetime.timedelta(seconds=int(s))
                   for s in rng.integers(0, 10**8, users)],
        "huge": huge,
    })
    nulls = {"age": 0.1, "spend_30d": 0.6, "score": 0.2, "last_order": 0.3, "signup": 0.05, "huge": 0.1}
    return frame.with_columns([
        pl.when(pl.Series(rng.random(users) < share)).then(None).otherwise(pl.col(name)).alias(name)
        for name, share in nulls.items()])


def build_numeric_world(root: pathlib.Path) -> dict[str, object]:
    """numeric_frame() written to Parquet and loaded, age by --numeric, the rest by the auto rule."""
    frame = numeric_frame()
    frame.write_parquet(root / "users.parquet")
    report = load_tags([str(root / "users.parquet")], root / "data", shard_bits=10, numeric={"age": None})
    return {"root": root, "data": root / "data", "frame": frame, "parquet": root / "users.parquet",
            "report": report}
