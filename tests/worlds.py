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


def build_ad_world(root: pathlib.Path) -> dict[str, object]:
    """Tags of AD_USERS generated users and two campaigns' events, loaded into root/data."""
    tags = generate(AD_USERS, seed=11)
    tags.write_parquet(root / "tags.parquet")
    users = tags["user_id"].to_numpy()
    events = make_events(users, ["c1", "c2"], DAYS, seed=5)
    events.write_parquet(root / "events.parquet")
    load_tags([str(root / "tags.parquet")], root / "data", shard_bits=10)
    load_events([str(root / "events.parquet")], root / "data", shard_bits=10)
    return {"root": root, "data": root / "data", "events": events, "tags": tags}


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
    """The ad world's tags and events plus an 8-dimension embedding per user, loaded into root/data."""
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
