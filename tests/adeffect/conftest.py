"""Generated campaign events with a known effect: exposed users convert more."""

from __future__ import annotations

import datetime
import pathlib

import numpy as np
import polars as pl
import pytest

from dolphin.demo import generate
from dolphin.engine import Engine
from loaders.events import load_events
from loaders.tags import load_tags

N_USERS = 4000
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


@pytest.fixture(scope="session")
def ad_world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("adeffect")
    tags = generate(N_USERS, seed=11)
    tags.write_parquet(root / "tags.parquet")
    users = tags["user_id"].to_numpy()
    events = make_events(users, ["c1", "c2"], DAYS, seed=5)
    events.write_parquet(root / "events.parquet")
    load_tags([str(root / "tags.parquet")], root / "data", shard_bits=10)
    load_events([str(root / "events.parquet")], root / "data", shard_bits=10)
    return {"root": root, "data": root / "data", "events": events, "tags": tags}


@pytest.fixture(scope="session")
def ad_engine(ad_world: dict[str, object]) -> Engine:
    return Engine(ad_world["data"])  # type: ignore[arg-type]


def reach(events: pl.DataFrame, campaign: str | None, event: str, start: str, end: str) -> set[str]:
    frame = events.filter((pl.col("event") == event)
                          & (pl.col("date") >= datetime.date.fromisoformat(start))
                          & (pl.col("date") <= datetime.date.fromisoformat(end)))
    if campaign:
        frame = frame.filter(pl.col("campaign") == campaign)
    return {str(u) for u in frame["user_id"].unique().to_list()}


__all__ = ["DAYS", "N_USERS", "pathlib", "reach"]
