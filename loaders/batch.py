"""Batch loader: Parquet/CSV user tags -> a new snapshot version, through Polars and the storage writer.

Each dimension column is scanned on its own (projection pushdown), so memory holds one column at a time.
Group keys become tag values; each group's rows become a NumPy array of dense IDs and then one bitmap.
A load replaces the dimensions it carries; other dimensions, the ID dictionary and saved audiences stay.
"""

from __future__ import annotations

import csv
import glob
import pathlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
from pyroaring import AbstractBitMap, BitMap

from dolphin import failpoints
from dolphin.errors import LoadError, SnapshotError
from dolphin.storage import (
    DimensionKind,
    IdDictionary,
    SnapshotWriter,
    bitmap_from_array,
    open_newest_snapshot,
)
from dolphin.storage.reader import SnapshotData
from dolphin.storage.writer import prune_versions
from loaders.columns import dimension_kind, usable_dtype, value_text

ROW = "__dolphin_row"
Progress = Callable[[int, int, str], None]
PARQUET_SUFFIXES = {".parquet", ".pq"}
CSV_SUFFIXES = {".csv", ".tsv"}


@dataclass(frozen=True, slots=True)
class LoadReport:
    """What a load did."""

    version: int
    rows: int
    users: int
    new_users: int
    dimensions: dict[str, str]
    tags: int
    memberships: int
    seconds: float
    pruned: list[int] = field(default_factory=list)


def expand_inputs(patterns: list[str]) -> list[pathlib.Path]:
    """Return the files named by paths and globs, or raise LoadError for a missing or unusable one."""
    files: list[pathlib.Path] = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        if not matches:
            raise LoadError(f"{pattern}: the glob matches no files")
        for name in matches:
            path = pathlib.Path(name)
            if not path.exists():
                raise LoadError(f"{path}: no such file")
            if path.is_dir():
                raise LoadError(f"{path}: is a directory; give the files (a glob such as {path}/*.parquet works)")
            if path.stat().st_size == 0:
                raise LoadError(f"{path}: the file is empty")
            files.append(path)
    if not files:
        raise LoadError("no input files given")
    return files


def _scan_one(path: pathlib.Path) -> pl.LazyFrame:
    is_csv = path.suffix.lower() in CSV_SUFFIXES
    if not is_csv and path.suffix.lower() not in PARQUET_SUFFIXES:
        with open(path, "rb") as fh:
            is_csv = fh.read(4) != b"PAR1"
    try:
        if is_csv:
            sep = "\t" if path.suffix.lower() == ".tsv" else ","
            frame = pl.scan_csv(path, separator=sep, infer_schema_length=10000)
            _check_csv_rows(path, sep, frame)
        else:
            frame = pl.scan_parquet(path)
        frame.collect_schema()
    except (pl.exceptions.PolarsError, OSError) as exc:
        kind = "CSV" if is_csv else "Parquet"
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise LoadError(f"{path}: cannot read as {kind}: {first_line}") from exc
    return frame


def _check_csv_rows(path: pathlib.Path, sep: str, frame: pl.LazyFrame) -> None:
    """Raise LoadError for a row with more fields than the header (an unquoted separator in a value?).

    Each column is later scanned on its own, and a projected scan does not look at the fields after the last
    projected one, so a ragged row would load silently with its extra fields dropped. One streaming pass over
    every column checks the file first.
    """
    try:
        frame.select(pl.all().null_count()).collect(engine="streaming")
    except pl.exceptions.ComputeError as exc:
        if "more fields than defined" not in str(exc):
            raise
        line, fields, header = _first_ragged_row(path, sep)
        raise LoadError(f"{path}: line {line} has {fields} fields but the header has {header}; quote values "
                        "that contain the separator") from exc


def _first_ragged_row(path: pathlib.Path, sep: str) -> tuple[int, int, int]:
    """Return (line, fields, header fields) of the first row longer than the header (error path only)."""
    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        rows = csv.reader(fh, delimiter=sep)
        header = len(next(rows, []))
        for row in rows:
            if len(row) > header:
                return rows.line_num, len(row), header
    return 0, 0, header


def scan_inputs(files: list[pathlib.Path]) -> pl.LazyFrame:
    """Return one lazy frame over all input files (columns missing from a file are null there)."""
    scans = [_scan_one(f) for f in files]
    frame = scans[0] if len(scans) == 1 else pl.concat(scans, how="diagonal_relaxed")
    return frame.with_row_index(ROW)


def _grouped_rows(frame: pl.DataFrame, keys: list[str]) -> tuple[pl.DataFrame, np.ndarray, np.ndarray]:
    """Group rows by keys; return (key columns, rows of all groups back to back, group start/end offsets)."""
    groups = frame.group_by(keys).agg(pl.col(ROW))
    lengths = groups[ROW].list.len().to_numpy().astype(np.int64)
    ends = np.cumsum(lengths)
    rows = groups[ROW].explode().to_numpy().astype(np.int64, copy=False)
    bounds = np.stack([ends - lengths, ends], axis=1)
    return groups.select(keys), rows, bounds


def _tag_bitmaps(values: list[object], rows: np.ndarray, bounds: np.ndarray, dense: np.ndarray) -> dict[str, BitMap]:
    """Return value text -> bitmap; keys that render to the same text are merged."""
    out: dict[str, BitMap] = {}
    for value, (start, end) in zip(values, bounds.tolist(), strict=True):
        bm = bitmap_from_array(dense[rows[start:end]])
        text = value_text(value)
        out[text] = out[text] | bm if text in out else bm
    return out


def _overlapping_user(tags: dict[str, BitMap]) -> tuple[int, list[str]] | None:
    """Return a user with two values and those values, when the bitmaps overlap."""
    seen = BitMap()
    for bm in tags.values():
        both = seen & bm
        if both:
            user = both.min()
            return user, sorted(v for v, b in tags.items() if user in b)[:3]
        seen |= bm
    return None


class _Load:
    def __init__(self, files: list[pathlib.Path], id_column: str, layout: str, progress: Progress | None) -> None:
        self.files = files
        self.id_column = id_column
        self.layout = layout
        self.progress = progress or (lambda i, n, msg: None)
        self.frame = scan_inputs(files)
        self.schema = self.frame.collect_schema()
        self.check_columns()

    def check_columns(self) -> None:
        names = [n for n in self.schema.names() if n != ROW]
        if self.id_column not in names:
            raise LoadError(f'the input has no ID column "{self.id_column}" (--id-column); its columns are: '
                            + ", ".join(repr(n) for n in names[:20]))
        if self.layout == "long":
            missing = {"dimension", "value"} - set(names)
            if missing:
                raise LoadError(f"the long layout needs columns {self.id_column}, dimension, value; "
                                f"missing: {', '.join(sorted(missing))}")
        bad = [n for n in names if n != self.id_column and not usable_dtype(self.schema[n])]
        if bad and self.layout == "wide":
            raise LoadError(f"column {bad[0]!r} has type {self.schema[bad[0]]}; tags need scalars or lists of scalars")

    def encode_ids(self, previous: IdDictionary) -> tuple[np.ndarray, IdDictionary]:
        try:
            ids = self.frame.select(self.id_column).collect()[self.id_column]
        except pl.exceptions.PolarsError as exc:
            raise LoadError(f"cannot read the ID column: {str(exc).splitlines()[0]}") from exc
        if not len(ids):
            raise LoadError("the input has no rows")
        return previous.encode(ids)

    def wide_dimensions(self, dense: np.ndarray) -> dict[str, tuple[DimensionKind, dict[str, BitMap]]]:
        columns = [n for n in self.schema.names() if n not in (ROW, self.id_column)]
        if not columns:
            raise LoadError(f"the input has no dimension columns besides {self.id_column!r}")
        out = {}
        for i, column in enumerate(columns):
            self.progress(i, len(columns), f"dimension {column}")
            kind = dimension_kind(self.schema[column])
            frame = self.frame.select(ROW, column)
            if kind is DimensionKind.MULTI:
                frame = frame.explode(column)
            data = frame.drop_nulls(column).collect()
            keys, rows, bounds = _grouped_rows(data, [column])
            tags = _tag_bitmaps(keys[column].to_list(), rows, bounds, dense)
            if kind is DimensionKind.SINGLE:
                self.check_single(column, tags, dense)
            out[column] = (kind, tags)
        self.progress(len(columns), len(columns), "dimensions done")
        return out

    def check_single(self, column: str, tags: dict[str, BitMap], dense: np.ndarray) -> None:
        clash = _overlapping_user(tags)
        if clash:
            raise LoadError(f"user {clash[0]} (dense ID) has several values of single-valued column {column!r} "
                            f"({', '.join(clash[1])}); the input has duplicate IDs with different values")

    def long_dimensions(self, dense: np.ndarray) -> dict[str, tuple[DimensionKind, dict[str, BitMap]]]:
        data = self.frame.select(ROW, "dimension", "value").drop_nulls(["dimension", "value"]).collect()
        keys, rows, bounds = _grouped_rows(data, ["dimension", "value"])
        dims = np.array([value_text(d) for d in keys["dimension"].to_list()], dtype=object)
        values = keys["value"].to_list()
        out = {}
        names = sorted(set(dims.tolist()))
        for i, dim in enumerate(names):
            self.progress(i, len(names), f"dimension {dim}")
            picked = np.flatnonzero(dims == dim)
            tags = _tag_bitmaps([values[k] for k in picked], rows, bounds[picked], dense)
            kind = DimensionKind.SINGLE if _overlapping_user(tags) is None else DimensionKind.MULTI
            out[dim] = (kind, tags)
        return out


def load_tags(
    inputs: list[str],
    data_dir: str | pathlib.Path,
    *,
    layout: str = "wide",
    id_column: str = "user_id",
    shard_bits: int = 20,
    keep: int = 3,
    progress: Progress | None = None,
    cut_time: float | None = None,
) -> LoadReport:
    """Load user tags from Parquet/CSV files into a new snapshot version of data_dir.

    cut_time (epoch seconds; default: the newest input file's modification time) is when the input was
    exported: a server streaming into data_dir re-applies, on top of this version, the stream mutations of the
    loaded dimensions logged after it (see README "Batch loads and the stream").
    """
    started = time.time()
    if layout not in ("wide", "long"):
        raise LoadError(f"unknown layout {layout!r}; use wide or long")
    data_dir = pathlib.Path(data_dir)
    job = _Load(expand_inputs(inputs), id_column, layout, progress)
    previous = previous_snapshot(data_dir)
    old_ids = previous.ids if previous else IdDictionary.empty()
    dense, ids = job.encode_ids(old_ids)
    dims = job.long_dimensions(dense) if layout == "long" else job.wide_dimensions(dense)
    cut = cut_time if cut_time is not None else max(f.stat().st_mtime for f in job.files)
    writer = writer_after(previous, data_dir, shard_bits, ids, dense, replaced=set(dims), cut_time=cut)
    memberships = 0
    for dim, (kind, tags) in dims.items():
        writer.set_kind(dim, kind)
        for value, bm in tags.items():
            writer.add_bitmap(dim, value, bm)
            memberships += len(bm)
    source = {"files": [str(f) for f in job.files], "layout": layout, "rows": len(dense), "dimensions": sorted(dims)}
    version = writer.commit(source=source, started=started, failpoint=failpoints.hit)
    pruned = prune_versions(data_dir, keep)
    return LoadReport(
        version=version, rows=len(dense), users=len(writer.population), new_users=len(ids) - len(old_ids),
        dimensions={d: str(k) for d, (k, _) in dims.items()}, tags=sum(len(t) for _, t in dims.values()),
        memberships=memberships, seconds=round(time.time() - started, 3), pruned=pruned,
    )


def writer_after(
    previous: SnapshotData | None,
    data_dir: pathlib.Path,
    shard_bits: int,
    ids: IdDictionary,
    dense: np.ndarray,
    *,
    replaced: set[str],
    carry_attachments: bool = True,
    carry_events: bool = True,
    cut_time: float | None = None,
) -> SnapshotWriter:
    """Return a writer holding the previous version (minus `replaced` dimensions) plus the new users."""
    writer = SnapshotWriter(data_dir, shard_bits=shard_bits)
    writer.ids = ids
    writer.stream = stream_state_after(previous, replaced, time.time() if cut_time is None else cut_time)
    population: AbstractBitMap = bitmap_from_array(dense)
    if previous:
        population = previous.population | population
        if carry_attachments and previous.path is not None:
            writer.carry_attachments(previous.path, previous.manifest)
        if carry_events:
            for (campaign, event), days in previous.events.items():
                for day, bm in days.items():
                    writer.add_event(campaign, event, day, bm)
        for dim, kind in previous.dimensions.items():
            if dim not in replaced:
                writer.set_kind(dim, kind)
                for value, kept in previous.tags[dim].items():
                    writer.add_bitmap(dim, value, kept)
    writer.population = population
    return writer


def stream_state_after(previous: SnapshotData | None, replaced: set[str], cut_time: float) -> dict[str, Any]:
    """Return the stream state of a batch version: what a streaming server must re-apply from its log.

    Loaded dimensions are fresh as of cut_time. Carried dimensions are as fresh as the previous version, so
    the log after the previous version's own point (its checkpoint position, or what it carried from) is
    re-applied to them. Source offsets carry over unchanged.
    """
    state: dict[str, Any] = {"cut_time": cut_time, "replaced": sorted(replaced), "carried_from": {}, "offsets": {}}
    if previous is not None:
        before = previous.manifest.stream
        state["offsets"] = dict(before.get("offsets", {}))
        if "wal_position" in before:
            state["carried_from"] = {"wal_position": before["wal_position"]}
        else:
            state["carried_from"] = dict(before.get("carried_from", {}))
    return state


def previous_snapshot(data_dir: pathlib.Path) -> SnapshotData | None:
    """Return the newest valid version of data_dir, or None; LoadError when it cannot be read."""
    try:
        return open_newest_snapshot(data_dir)
    except SnapshotError as exc:
        raise LoadError(f"cannot read the current snapshot of {data_dir}: {exc}") from exc
