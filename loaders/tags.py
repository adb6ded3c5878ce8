"""Tag loader: Parquet/CSV user tags -> a new snapshot version, through Polars and the storage writer.

Each dimension column is scanned on its own (projection pushdown), so memory holds one column at a time.
Group keys become tag values; each group's rows become a NumPy array of dense IDs and then one bitmap.
Numeric columns (loaders.numeric decides which) become numeric fields: their slices are built from the
column's values as integers, vectorised.
A load replaces the dimensions and fields it carries; others, the ID dictionary and saved audiences stay.
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
from dolphin.storage.numbers import slice_bitmaps
from loaders.columns import dimension_kind, usable_dtype, value_text
from loaders.commit import commit_version, previous_snapshot, writer_after
from loaders.inputs import ROW, Progress, expand_inputs, scan_inputs
from loaders.numeric import INTEGERS, NumericColumn, plan_numeric, stored_values


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
    numeric: dict[str, str] = field(default_factory=dict)  # numeric field -> "kind (why)"
    notes: list[str] = field(default_factory=list)  # what a person should know (values rounded to a scale)


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


Dimensions = dict[str, tuple[DimensionKind, dict[str, BitMap]]]


def _unique_users(column: str, users: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return each user once with its value; LoadError when a user has two different values."""
    order = np.argsort(users, kind="stable")
    users, values = users[order], values[order]
    repeated = np.flatnonzero(users[1:] == users[:-1])
    clash = repeated[values[repeated + 1] != values[repeated]]
    if len(clash):
        i = int(clash[0])
        raise LoadError(f"user {users[i]} (dense ID) has several values of numeric column {column!r}; the input "
                        "has duplicate IDs with different values")
    keep = np.ones(len(users), dtype=bool)
    keep[repeated + 1] = False
    return users[keep], values[keep]


class _Load:
    def __init__(self, files: list[pathlib.Path], id_column: str, layout: str, progress: Progress | None,
                 numeric: dict[str, int | None], auto_numeric: bool,
                 decided: dict[str, NumericColumn] | None = None) -> None:
        self.files = files
        self.id_column = id_column
        self.layout = layout
        self.progress = progress or (lambda i, n, msg: None)
        self.frame = scan_inputs(files)
        self.schema = self.frame.collect_schema()
        self.check_columns()
        self.requested = numeric
        self.notes: list[str] = []
        if decided is not None:  # a cluster load decides once over the whole input, so every shard agrees
            self.numeric = decided
        elif layout == "wide":
            self.numeric = plan_numeric(self.frame, self.schema, id_column, numeric, auto_numeric)
        else:
            self.numeric = {}

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

    def numeric_field(self, column: str, data: pl.DataFrame, kind: DimensionKind, dense: np.ndarray,
                      value: str) -> dict[str, BitMap]:
        """Return the slices of a numeric field from rows of (ROW, value column)."""
        got = stored_values(value, data, kind, ROW)
        if got.rounded:
            self.notes.append(f"{column}: rounded {got.rounded} values to {kind.scale} decimal places "
                              f"(give --numeric {column}:SCALE to keep more)")
        users, values = _unique_users(column, dense[got.rows], got.values)
        return slice_bitmaps(users, values)  # type: ignore[return-value]

    def wide_dimensions(self, dense: np.ndarray) -> Dimensions:
        columns = [n for n in self.schema.names() if n not in (ROW, self.id_column)]
        if not columns:
            raise LoadError(f"the input has no dimension columns besides {self.id_column!r}")
        out = {}
        for i, column in enumerate(columns):
            self.progress(i, len(columns), f"dimension {column}")
            if column in self.numeric:
                kind = self.numeric[column].kind
                data = self.frame.select(ROW, column).drop_nulls(column).collect()
                out[column] = (kind, self.numeric_field(column, data, kind, dense, column))
                continue
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

    def long_numeric(self, data: pl.DataFrame, dense: np.ndarray) -> tuple[Dimensions, pl.DataFrame]:
        """Return the numeric fields of a long input, and its other rows (tags).

        A numeric value column makes every dimension numeric; a text one, those named by --numeric.
        """
        dtype = data.schema["value"]
        text = dtype == pl.String
        names = sorted(set(data["dimension"].cast(pl.String).to_list()))
        fields = [n for n in names if n in self.requested] if text else names
        out: Dimensions = {}
        for name in fields:
            rows = data.filter(pl.col("dimension").cast(pl.String) == name)
            kind = _long_kind(rows["value"], dtype, self.requested.get(name))
            out[name] = (kind, self.numeric_field(name, rows, kind, dense, "value"))
            self.numeric[name] = NumericColumn(kind, "--numeric" if name in self.requested else "numeric values")
        rest = data.filter(~pl.col("dimension").cast(pl.String).is_in(fields)) if fields else data
        return out, rest

    def long_dimensions(self, dense: np.ndarray) -> Dimensions:
        data = self.frame.select(ROW, "dimension", "value").drop_nulls(["dimension", "value"]).collect()
        numeric, data = self.long_numeric(data, dense)
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
        return out | numeric


def _long_kind(values: pl.Series, dtype: pl.DataType, scale: int | None) -> DimensionKind:
    """Return the kind of one dimension of a long input's numeric values."""
    from loaders.numeric import _inferred_scale, _requested_kind

    if dtype in INTEGERS and scale is None:
        return DimensionKind.INTEGER
    if dtype in (pl.Float32, pl.Float64) and scale is None:
        return DimensionKind.decimal(_inferred_scale(values))
    return _requested_kind(values.to_frame().lazy(), "value", dtype, scale)


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
    numeric: dict[str, int | None] | None = None,
    auto_numeric: bool = True,
    decided: dict[str, NumericColumn] | None = None,
) -> LoadReport:
    """Load user tags and numeric fields from Parquet/CSV files into a new snapshot version of data_dir.

    numeric: columns (wide) or dimensions (long) to load as numeric fields -> decimal places (None: as the data
    says); auto_numeric: also the columns loaders.numeric's rule picks; decided: the numeric columns already
    decided for the whole input (a cluster load's shards), overriding both.

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
    job = _Load(expand_inputs(inputs), id_column, layout, progress, numeric or {}, auto_numeric, decided)
    previous = previous_snapshot(data_dir)
    old_ids = previous.ids if previous else IdDictionary.empty()
    dense, ids = job.encode_ids(old_ids, allow_empty)
    dims = job.long_dimensions(dense) if layout == "long" else job.wide_dimensions(dense)
    cut = cut_time if cut_time is not None else max(f.stat().st_mtime for f in job.files)
    writer = writer_after(previous, data_dir, shard_bits, ids, dense, replaced=set(dims), cut_time=cut)
    for dim, (kind, tags) in dims.items():
        writer.set_kind(dim, kind)
        for value, bm in tags.items():
            writer.add_bitmap(dim, value, bm)
    source = {"files": [str(f) for f in job.files], "layout": layout, "rows": len(dense), "dimensions": sorted(dims)}
    version, pruned = commit_version(writer, data_dir, keep, source, started)
    tag_dims = [t for k, t in dims.values() if not k.numeric]
    return LoadReport(
        version=version, rows=len(dense), users=len(writer.population), new_users=len(ids) - len(old_ids),
        dimensions={d: str(k) for d, (k, _) in dims.items()}, tags=sum(len(t) for t in tag_dims),
        memberships=sum(len(bm) for t in tag_dims for bm in t.values()), seconds=round(time.time() - started, 3),
        pruned=pruned, numeric={name: f"{c.kind} ({c.reason})" for name, c in job.numeric.items() if name in dims},
        notes=job.notes,
    )
