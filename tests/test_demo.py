"""The demo world has the structure the console is meant to show: correlations, an ad effect, persona vectors."""

from __future__ import annotations

import numpy as np
import polars as pl

from dolphin.demo import CAMPAIGNS, HOSTILE_DIMENSION, HOSTILE_VALUES, VECTOR_DIM, demo_world, generate

WORLD = demo_world(8000, seed=3)


def _share(frame: pl.DataFrame, condition: pl.Expr) -> float:
    return float(frame.select(condition.fill_null(False).mean()).item())


def test_tags_are_correlated_not_independent() -> None:
    tags = WORLD.tags
    tennis = tags.filter(pl.col("interest").list.contains("tennis"))
    women_overall = _share(tags, pl.col("gender").cast(pl.String) == "F")
    women_in_tennis = _share(tennis, pl.col("gender").cast(pl.String) == "F")
    assert women_in_tennis / women_overall > 1.25  # a TGI well above 100
    vip = tags.filter(pl.col("vip"))
    assert _share(vip, pl.col("interest").list.contains("travel")) > 2 * _share(
        tags, pl.col("interest").list.contains("travel"))


def test_hostile_text_and_the_plain_generator_unchanged() -> None:
    assert set(WORLD.tags[HOSTILE_DIMENSION].drop_nulls().unique().to_list()) == set(HOSTILE_VALUES)
    assert generate(50, seed=0).equals(generate(50, seed=0))
    assert HOSTILE_DIMENSION not in generate(50, seed=0).columns  # bench and tests keep their independent tags


def test_events_make_funnels_and_a_lift() -> None:
    events = WORLD.events
    assert set(events["campaign"].unique().to_list()) == set(CAMPAIGNS)
    by_day = events.group_by("campaign", "event", "date").agg(pl.col("user_id").unique())
    clicks = by_day.filter(pl.col("event") == "click")
    impressions = {(r["campaign"], r["date"]): set(r["user_id"]) for r in
                   by_day.filter(pl.col("event") == "impression").iter_rows(named=True)}
    for row in clicks.iter_rows(named=True):  # a click always follows an impression on the same day
        assert set(row["user_id"]) <= impressions[(row["campaign"], row["date"])]
    tennis = events.filter(pl.col("campaign") == "spring_tennis")
    exposed = set(tennis.filter(pl.col("event") == "impression")["user_id"].to_list())
    converted = set(tennis.filter(pl.col("event") == "conversion")["user_id"].to_list())
    everyone = set(WORLD.tags["user_id"].to_list())
    exposed_rate = len(converted & exposed) / len(exposed)
    unexposed_rate = len(converted - exposed) / len(everyone - exposed)
    assert exposed_rate > 1.5 * unexposed_rate > 0


def test_vectors_follow_personas() -> None:
    vectors = np.asarray(WORLD.vectors["embedding"].to_list(), dtype=np.float32)
    assert vectors.shape == (8000, VECTOR_DIM) and np.isfinite(vectors).all()
    vip = WORLD.tags["vip"].fill_null(False).to_numpy()
    centre = vectors[vip].mean(axis=0)
    similarity = vectors @ centre / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(centre))
    top = np.argsort(-similarity)[:500]
    assert vip[top].mean() > 2 * vip.mean()  # users near the VIPs' centre are VIPs far more often than chance
