"""Events loader: `user_id, campaign, event, date` rows -> one reach bitmap per (campaign, event, day).

Repeated events of one user on one day count once. The days the input covers (its first to its last date) are
replaced for every campaign and event; other days, tags and embeddings stay. `keep_days` drops days older than
the newest day minus keep_days - 1.
"""

from __future__ import annotations

import datetime
import pathlib
import time
from dataclasses import dataclass

import numpy as np
import polars as pl
from pyroaring import AbstractBitMap

from dolphin.errors import LoadError
from dolphin.storage import IdDictionary, bitmap_from_array
from loaders.commit import commit_version, previous_snapshot, writer_after
from loaders.inputs import ROW, Progress, expand_inputs, scan_inputs

REQUIRED = ("campaign", "event", "date")


@dataclass(frozen=True, slots=True)
class EventReport:
    """What an events load did."""

    version: int
    rows: int
    bitmaps: int
    first_day: str
    last_day: str
    dropped_days: int
    new_users: int
    seconds: float


def dates_of(frame: pl.LazyFrame, schema: pl.Schema) -> pl.Expr:
    """Return the expression reading the date column as dates (Date, Datetime or ISO text)."""
    dtype = schema["date"]
    if dtype == pl.Date:
        return pl.col("date")
    if isinstance(dtype, pl.Datetime):
        return pl.col("date").dt.date()
    if dtype == pl.String:
        return pl.col("date").str.strptime(pl.Date, "%Y-%m-%d", strict=True)
    raise LoadError(f"column date has type {dtype}; use a date or ISO text (2026-11-01)")


def load_events(
    inputs: list[str],
    data_dir: str | pathlib.Path,
    *,
    id_column: str = "user_id",
    keep_days: int = 0,
    shard_bits: int = 20,
    keep: int = 3,
    progress: Progress | None = None,
    replaced_days: tuple[datetime.date, datetime.date] | None = None,
    horizon: datetime.date | None = None,
    cut_time: float | None = None,
) -> EventReport:
    """Load campaign events into a new snapshot version of data_dir.

    replaced_days (a cluster shard's load) is the range the whole input covers: it is replaced even where this
    part has no rows, and an empty part is then allowed. horizon (a cluster shard's load) is the newest day over
    every shard, which `keep_days` counts back from, so that all shards keep the same days. cut_time (default:
    now) is when the input was exported: streamed events of the replaced days logged after it are re-applied.
    """
    started = time.time()
    show = progress or (lambda i, n, msg: None)
    data_dir = pathlib.Path(data_dir)
    lazy = scan_inputs(expand_inputs(inputs))
    schema = lazy.collect_schema()
    missing = [c for c in (id_column, *REQUIRED) if c not in schema.names()]
    if missing:
        raise LoadError(f"the events input needs columns {id_column}, campaign, event, date; missing: "
                        + ", ".join(missing))
    show(0, 3, "reading events")
    try:
        frame = lazy.select(ROW, id_column, pl.col("campaign").cast(pl.String), pl.col("event").cast(pl.String),
                            dates_of(lazy, schema).alias("date")).collect()
    except pl.exceptions.PolarsError as exc:
        raise LoadError(f"cannot read the events: {str(exc).splitlines()[0]}") from exc
    nulls = frame.select(pl.col("campaign", "event", "date").null_count()).row(0)
    if any(nulls):
        raise LoadError("events need a campaign, an event and a date on every row; found nulls in "
                        + ", ".join(c for c, n in zip(REQUIRED, nulls, strict=True) if n))
    if not len(frame) and replaced_days is None:
        raise LoadError("the input has no rows")
    previous = previous_snapshot(data_dir)
    old_ids = previous.ids if previous else IdDictionary.empty()
    dense, ids = old_ids.encode(frame[id_column])
    first, last = replaced_days or (frame["date"].min(), frame["date"].max())
    assert isinstance(first, datetime.date) and isinstance(last, datetime.date)
    show(1, 3, f"grouping {len(frame)} events")
    groups = frame.with_columns(pl.Series("dense", dense)).group_by("campaign", "event", "date").agg(pl.col("dense"))
    lengths = groups["dense"].list.len().to_numpy().astype(np.int64)
    ends = np.cumsum(lengths)
    members = groups["dense"].explode().to_numpy().astype(np.uint32, copy=False)
    writer = writer_after(previous, data_dir, shard_bits, ids, dense, replaced=set(), carry_events=False,
                          cut_time=cut_time, replaced_days=(first.isoformat(), last.isoformat()))
    events: dict[tuple[str, str, str], AbstractBitMap] = {}
    if previous:
        for (campaign, event), days in previous.events.items():
            for day, kept in days.items():
                if not first.isoformat() <= day <= last.isoformat():
                    events[(campaign, event, day)] = kept
    keys = zip(groups["campaign"].to_list(), groups["event"].to_list(), groups["date"].to_list(), strict=True)
    for (campaign, event, day), start, end in zip(keys, (ends - lengths).tolist(), ends.tolist(), strict=True):
        events[(campaign, event, day.isoformat())] = bitmap_from_array(members[start:end])
    dropped = 0
    if keep_days > 0:
        newest = max(last, horizon or last, max((datetime.date.fromisoformat(k[2]) for k in events), default=last))
        oldest = (newest - datetime.timedelta(days=keep_days - 1)).isoformat()
        dropped = len({k[2] for k in events if k[2] < oldest})
        events = {k: v for k, v in events.items() if k[2] >= oldest}
    for (campaign, event, day), reach in events.items():
        writer.add_event(campaign, event, day, reach)
    show(2, 3, "writing the snapshot")
    version, _ = commit_version(writer, data_dir, keep, {"events": [str(f) for f in inputs]}, started)
    show(3, 3, "done")
    return EventReport(version, len(frame), len(groups), first.isoformat(), last.isoformat(), dropped,
                       len(ids) - len(old_ids), round(time.time() - started, 3))
