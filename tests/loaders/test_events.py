"""Events loader: reach bitmaps per day, date-range reloads, retention, other data kept, bad input."""

from __future__ import annotations

import datetime
import pathlib
import shutil

import polars as pl
import pytest

from dolphin.engine import Engine
from dolphin.errors import LoadError
from loaders.events import load_events
from loaders.tags import load_tags


def events(rows: list[tuple[int, str, str, str]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=["user_id", "campaign", "event", "date"], orient="row")


def test_reload_replaces_only_the_days_it_covers(ad_world: dict[str, object], tmp_path: pathlib.Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(ad_world["data"], data)  # type: ignore[arg-type]
    before = Engine(data)
    day9 = before.count("event(impression, campaign=c1, from=2026-11-09, to=2026-11-09)").count
    users = ad_world["tags"]["user_id"].to_list()  # type: ignore[index]
    events([(users[0], "c1", "impression", "2026-11-02"), (users[1], "c1", "impression", "2026-11-03"),
            (users[1], "c1", "impression", "2026-11-03")]).with_columns(
        pl.col("date").str.to_date()).write_parquet(tmp_path / "fix.parquet")
    report = load_events([str(tmp_path / "fix.parquet")], data, shard_bits=10)
    assert (report.first_day, report.last_day, report.bitmaps) == ("2026-11-02", "2026-11-03", 2)
    after = Engine(data)
    assert after.count("event(impression, campaign=c1, from=2026-11-02, to=2026-11-03)").count == 2
    assert after.count("event(click, campaign=c2, from=2026-11-02, to=2026-11-03)").count == 0  # replaced days
    assert after.count("event(impression, campaign=c1, from=2026-11-09, to=2026-11-09)").count == day9  # kept
    assert after.count("gender=F").count == before.count("gender=F").count  # tags kept


def test_keep_days_drops_old_days(tmp_path: pathlib.Path) -> None:
    rows = [(1, "c", "imp", f"2026-10-{d:02d}") for d in range(1, 31)]
    events(rows).write_csv(tmp_path / "e.csv")
    report = load_events([str(tmp_path / "e.csv")], tmp_path / "d", keep_days=7)
    assert report.dropped_days == 23
    engine = Engine(tmp_path / "d")
    assert engine.list_campaigns() == {"c": {"imp": [f"2026-10-{d:02d}" for d in range(24, 31)]}}
    assert engine.count("ALL").count == 1  # a user with events and no tags is a known user


def test_tag_loads_keep_events(tmp_path: pathlib.Path) -> None:
    events([(1, "c", "imp", "2026-10-01")]).write_csv(tmp_path / "e.csv")
    load_events([str(tmp_path / "e.csv")], tmp_path / "d")
    pl.DataFrame({"user_id": [1, 2], "tier": ["a", "b"]}).write_parquet(tmp_path / "t.parquet")
    load_tags([str(tmp_path / "t.parquet")], tmp_path / "d")
    assert Engine(tmp_path / "d").count("tier=a AND event(imp)").count == 1


@pytest.mark.parametrize(("frame", "message"), [
    (pl.DataFrame({"user_id": [1], "campaign": ["c"], "event": ["e"]}), "missing: date"),
    (pl.DataFrame({"user_id": [1], "campaign": ["c"], "event": ["e"], "date": ["01/11/2026"]}), "cannot read"),
    (pl.DataFrame({"user_id": [1], "campaign": [None], "event": ["e"], "date": [datetime.date(2026, 1, 1)]},
                  schema_overrides={"campaign": pl.String}), "nulls in campaign"),
    (pl.DataFrame({"user_id": [1], "campaign": ["c"], "event": ["e"], "date": [1.5]}), "column date has type"),
])
def test_bad_event_files(tmp_path: pathlib.Path, frame: pl.DataFrame, message: str) -> None:
    frame.write_parquet(tmp_path / "e.parquet")
    with pytest.raises(LoadError, match=message):
        load_events([str(tmp_path / "e.parquet")], tmp_path / "d")
