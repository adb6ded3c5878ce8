"""`dolphin stream FILE...`: replay a change log (JSON lines or Parquet) through dolphin.sink, for backfills and tests.

Columns: user_id, op (add, remove, set, delete_user, set_number, clear_number, add_event), dimension, value;
campaign, event and date (ISO text or a Date column) for add_event. A file of campaign events may leave op out:
`user_id, campaign, event, date` rows are add_event. Optional source (default "file:<file name>") and offset
(default: the row number within the source, from 0). Rows at or below a source's stored offset on the server
are not sent again, so an interrupted replay can simply be rerun.
"""

from __future__ import annotations

import pathlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from dolphin.errors import LoadError
from dolphin.sink import OPS, Sink
from loaders.inputs import expand_inputs

REQUIRED = ("user_id", "op")
EVENT_COLUMNS = ("campaign", "event", "date")
CHUNK_ROWS = 100_000


@dataclass(frozen=True, slots=True)
class StreamReport:
    """What a replay sent."""

    rows: int
    sent: int
    skipped_rows: int  # at or below the stored offset of their source
    sources: int
    seconds: float


def read_change_log(path: pathlib.Path) -> pl.DataFrame:
    """Return a change log file as a frame with source, offset, user_id, op, dimension, value, campaign, event,
    date; LoadError if bad."""
    try:
        frame = pl.read_parquet(path) if _is_parquet(path) else pl.read_ndjson(path)
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise LoadError(f"{path}: cannot read the change log: {exc}") from None
    if "op" not in frame.columns and all(c in frame.columns for c in EVENT_COLUMNS):
        frame = frame.with_columns(pl.lit("add_event").alias("op"))  # a file of campaign events
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise LoadError(f"{path}: the change log has no {', '.join(missing)} column (columns: "
                        f"{', '.join(frame.columns)})")
    frame = frame.with_columns(
        pl.col("user_id").cast(pl.String),
        pl.col("op").cast(pl.String).str.to_lowercase(),
        (pl.col("dimension") if "dimension" in frame.columns else pl.lit("")).cast(pl.String).fill_null("")
        .alias("dimension"),
        (pl.col("value") if "value" in frame.columns else pl.lit("")).cast(pl.String).fill_null("").alias("value"),
        *[(pl.col(c) if c in frame.columns else pl.lit("")).cast(pl.String).fill_null("").alias(c)
          for c in EVENT_COLUMNS],
        (pl.col("source") if "source" in frame.columns else pl.lit(f"file:{path.name}")).cast(pl.String)
        .alias("source"),
    )
    if "offset" not in frame.columns:
        frame = frame.with_columns(pl.int_range(pl.len()).over("source").alias("offset"))
    frame = frame.with_columns(pl.col("offset").cast(pl.Int64))
    bad = frame.filter(~pl.col("op").is_in(list(OPS)) | pl.col("user_id").is_null() | pl.col("offset").is_null())
    if len(bad):
        row = bad.row(0, named=True)
        raise LoadError(f"{path}: row with user_id={row['user_id']!r} op={row['op']!r} offset={row['offset']!r}: "
                        f"op must be one of {', '.join(OPS)}, and user_id and offset must be set")
    return frame.select("source", "offset", "user_id", "op", "dimension", "value", *EVENT_COLUMNS)


def _is_parquet(path: pathlib.Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(4) == b"PAR1"


def stream_files(inputs: list[str], sink: Sink, progress: Callable[[int, int, str], None] | None = None
                 ) -> StreamReport:
    """Send every row after its source's stored offset through the sink and wait for all acks."""
    started = time.monotonic()
    frames = [read_change_log(p) for p in expand_inputs(inputs)]
    frame = pl.concat(frames) if len(frames) > 1 else frames[0]
    sources = frame["source"].unique().sort().to_list()
    stored = sink.offsets(sources)
    decreasing = frame.with_row_index("row").filter(pl.col("offset").diff().over("source") <= 0)
    if len(decreasing):
        row = decreasing.row(0, named=True)
        raise LoadError(f"source {row['source']}: offset {row['offset']} at row {row['row']} does not increase; "
                        "offsets must increase within a source")
    todo = frame.filter(pl.col("offset") > pl.col("source").replace_strict(stored, default=-1, return_dtype=pl.Int64))
    sent = 0
    for chunk in todo.iter_slices(CHUNK_ROWS):
        for source, offset, user, op, dimension, value, campaign, event, date in chunk.iter_rows():
            if op == "add_event":
                sink.write_event(source, offset, user, campaign, event, date)
            else:
                sink.write(source, offset, user, OPS[op], dimension, value)
        sent += len(chunk)
        if progress:
            progress(sent, len(todo), "mutations sent")
    sink.flush()
    if progress:
        progress(len(todo), len(todo), "all acknowledged")
    return StreamReport(len(frame), sent, len(frame) - len(todo), len(sources), round(time.monotonic() - started, 3))
