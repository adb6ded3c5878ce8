"""Tag loader: Parquet/CSV user tags -> a new snapshot version, through Polars and the storage writer.

Each dimension column is scanned on its own (projection pushdown), so memory holds one column at a time.
Group keys become tag values; each group's rows become a NumPy array of dense IDs and then one bitmap.
A load replaces the dimensions it carries; other dimensions, the ID dictionary and saved audiences stay.
"""

from __future__ import annotations

import pathlib
import time
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from pyroaring import BitMap

from dolphin.errors import LoadError
from dolphin.storage import DimensionKind, IdDictionary, bitmap_from_array
from loaders.columns import dimension_kind, usable_dtype, value_text
from loaders.commit import commit_version, previous_snapshot, writer_after
from loaders.inputs import ROW, Progress, expand_inputs, scan_inputs


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

    def encode_ids(self, previous: IdDictionary, allow_empty: bool) -> tuple[np.ndarray, IdDictionary]:
        try:
            ids = self.frame.select(self.id_column).collect()[self.id_column]
        except pl.exceptions.PolarsError as exc:
            raise LoadError(f"cannot read the ID column: {str(exc).splitlines()[0]}") from exc
        if not len(ids) and not allow_empty:
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
    allow_empty: bool = False,
) -> LoadReport:
    """Load user tags from Parquet/CSV files into a new snapshot version of data_dir.

    allow_empty: an input without rows is loaded (its dimensions are replaced by empty ones) instead of refused;
    a cluster load gives every shard its part of the input, even an empty one.

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
    dense, ids = job.encode_ids(old_ids, allow_empty)
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
    version, pruned = commit_version(writer, data_dir, keep, source, started)
    return LoadReport(
        version=version, rows=len(dense), users=len(writer.population), new_users=len(ids) - len(old_ids),
        dimensions={d: str(k) for d, (k, _) in dims.items()}, tags=sum(len(t) for _, t in dims.values()),
        memberships=memberships, seconds=round(time.time() - started, 3), pruned=pruned,
    )
