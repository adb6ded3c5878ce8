"""Numeric columns: which columns become numeric fields, and their values as the integers a field stores.

The rule for a wide input (each decision is printed by `dolphin load tags`):
- a column named by `--numeric COL[:SCALE]` is numeric: integers as they are (or times 10^SCALE), floats and
  decimal strings with SCALE places (inferred up to 6 when not given), dates in days, datetimes in seconds;
- otherwise, unless auto-detection is off: float and decimal columns, date and datetime columns, and integer
  columns with more than AUTO_DISTINCT distinct values are numeric; every other column is tags.
Nulls mean "no value". Floats are rounded half to even to the scale (the load says how many were); NaN and
infinity are errors naming the row.
"""

from __future__ import annotations

import decimal
from dataclasses import dataclass

import numpy as np
import polars as pl

from dolphin.errors import LoadError
from dolphin.storage import DimensionKind
from dolphin.storage.numbers import MAX_MAGNITUDE, parse_value

AUTO_DISTINCT = 100  # an integer column with more distinct values than this is a number, not a set of tags
MAX_INFERRED_SCALE = 6
INTEGERS = (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64)


@dataclass(frozen=True, slots=True)
class NumericColumn:
    """A column that becomes a numeric field: its kind, and why (for the load's report)."""

    kind: DimensionKind
    reason: str


def parse_numeric_flag(text: str) -> tuple[str, int | None]:
    """Return (column, scale or None) of a `--numeric COL[:SCALE]` value; ValueError when the scale is bad."""
    column, _, scale = text.rpartition(":") if ":" in text else (text, "", "")
    if not scale:
        return text, None
    if not scale.isdigit() or int(scale) > 18:
        raise ValueError(f"--numeric {text}: the scale after ':' must be 0 to 18")
    return column, int(scale)


def _is_float(dtype: pl.DataType) -> bool:
    return dtype in (pl.Float32, pl.Float64)


def _inferred_scale(values: pl.Series) -> int:
    """Return the fewest decimal places (up to MAX_INFERRED_SCALE) that hold every float exactly enough."""
    finite = values.drop_nulls().drop_nans().to_numpy()
    finite = finite[np.isfinite(finite)]
    for scale in range(MAX_INFERRED_SCALE + 1):
        scaled = finite * 10.0**scale
        if np.all(np.abs(scaled - np.rint(scaled)) <= 1e-6 * np.maximum(1.0, np.abs(scaled))):
            return scale
    return MAX_INFERRED_SCALE


def _decimal_places(values: pl.Series) -> int:
    texts = values.drop_nulls().unique().to_list()
    places = [-decimal.Decimal(t).as_tuple().exponent for t in texts if _parses(t)]  # type: ignore[operator]
    return max([0, *[p for p in places if p > 0]])


def _parses(text: str) -> bool:
    try:
        decimal.Decimal(text)
    except decimal.InvalidOperation:
        return False
    return True


def plan_numeric(frame: pl.LazyFrame, schema: pl.Schema, id_column: str, requested: dict[str, int | None],
                 auto: bool) -> dict[str, NumericColumn]:
    """Return the columns of a wide input that become numeric fields, with their kinds (the module's rule)."""
    missing = sorted(set(requested) - set(schema.names()))
    if missing:
        raise LoadError(f"--numeric names columns the input does not have: {', '.join(missing)}")
    plan: dict[str, NumericColumn] = {}
    for name in schema.names():
        if name == id_column or name.startswith("__dolphin"):
            continue
        dtype = schema[name]
        if name in requested:
            plan[name] = NumericColumn(_requested_kind(frame, name, dtype, requested[name]), "--numeric")
        elif auto:
            decided = _auto_kind(frame, name, dtype)
            if decided is not None:
                plan[name] = decided
    return plan


def _requested_kind(frame: pl.LazyFrame, name: str, dtype: pl.DataType, scale: int | None) -> DimensionKind:
    if dtype == pl.Date:
        return DimensionKind.DATE
    if isinstance(dtype, pl.Datetime):
        return DimensionKind.TIMESTAMP
    if scale is not None:
        return DimensionKind.decimal(scale)
    if dtype in INTEGERS:
        return DimensionKind.INTEGER
    if isinstance(dtype, pl.Decimal):
        return DimensionKind.decimal(min(dtype.scale or 0, 18))
    if _is_float(dtype):
        return DimensionKind.decimal(_inferred_scale(frame.select(name).collect()[name]))
    if dtype == pl.String:
        return DimensionKind.decimal(min(_decimal_places(frame.select(name).collect()[name]), 18))
    raise LoadError(f"column {name!r} has type {dtype}; --numeric takes integer, float, decimal, date, datetime "
                    "or decimal-text columns")


def _auto_kind(frame: pl.LazyFrame, name: str, dtype: pl.DataType) -> NumericColumn | None:
    if dtype == pl.Date:
        return NumericColumn(DimensionKind.DATE, "auto: date column, in days")
    if isinstance(dtype, pl.Datetime):
        return NumericColumn(DimensionKind.TIMESTAMP, "auto: datetime column, in seconds")
    if isinstance(dtype, pl.Decimal):
        return NumericColumn(DimensionKind.decimal(min(dtype.scale or 0, 18)), "auto: decimal column")
    if _is_float(dtype):
        scale = _inferred_scale(frame.select(name).collect()[name])
        return NumericColumn(DimensionKind.decimal(scale), f"auto: float column, {scale} places")
    if dtype in INTEGERS:
        distinct = frame.select(pl.col(name).n_unique()).collect().item()
        if distinct > AUTO_DISTINCT:
            return NumericColumn(DimensionKind.INTEGER,
                                 f"auto: integer column with {distinct} distinct values (> {AUTO_DISTINCT})")
    return None


@dataclass(frozen=True, slots=True)
class NumericValues:
    """A numeric column's non-null values as stored integers, with the input rows they came from."""

    rows: np.ndarray  # int64 row numbers of the input (the loader's ROW column)
    values: np.ndarray  # int64 stored values
    rounded: int  # floats that had more places than the scale


def stored_values(column: str, data: pl.DataFrame, kind: DimensionKind, row: str) -> NumericValues:
    """Return a column's values (nulls dropped) as the integers a field of this kind stores.

    Raises LoadError naming the row for NaN, infinity, text that is not a number and values out of range.
    """
    series = data[column]
    rows = data[row].to_numpy().astype(np.int64)
    dtype = series.dtype
    if kind is DimensionKind.DATE:
        return NumericValues(rows, _date_days(series).astype(np.int64), 0)
    if kind is DimensionKind.TIMESTAMP:
        if isinstance(dtype, pl.Datetime):
            return NumericValues(rows, series.dt.epoch("s").to_numpy().astype(np.int64), 0)
        return NumericValues(rows, _date_days(series) * 86_400, 0)
    if dtype in INTEGERS:
        return NumericValues(rows, _scaled_integers(column, series, rows, kind.scale), 0)
    if isinstance(dtype, pl.Decimal) and (dtype.scale or 0) <= kind.scale:
        exact = series.cast(pl.Decimal(38, kind.scale)).to_physical()  # integers times 10^scale, exactly
        return NumericValues(rows, _in_range(column, exact, rows), 0)
    if isinstance(dtype, pl.Decimal) or _is_float(dtype):
        return _scaled_floats(column, series.cast(pl.Float64), rows, kind.scale)
    if dtype == pl.String:
        return NumericValues(rows, _parsed_texts(column, series, rows, kind), 0)
    raise LoadError(f"column {column!r} has type {dtype}, which is not a number")


def _in_range(column: str, scaled: pl.Series, rows: np.ndarray) -> np.ndarray:
    """Return 128-bit scaled integers as int64, or raise naming the first row out of a field's range."""
    over = (scaled.abs() > MAX_MAGNITUDE).to_numpy()
    if over.any():
        bad = int(np.argmax(over))
        raise LoadError(f"column {column!r} row {rows[bad]}: the value is out of range (a stored value must be "
                        "within +-(2^63 - 1))")
    return np.asarray(scaled.cast(pl.Int64).to_numpy(), dtype=np.int64)


def _date_days(series: pl.Series) -> np.ndarray:
    return np.asarray(series.cast(pl.Date).to_physical().to_numpy(), dtype=np.int64)


def _scaled_integers(column: str, series: pl.Series, rows: np.ndarray, scale: int) -> np.ndarray:
    if series.dtype == pl.UInt64 and len(series) and int(series.max()) > MAX_MAGNITUDE:  # type: ignore[arg-type]
        bad = int(np.argmax(series.to_numpy() > MAX_MAGNITUDE))
        raise LoadError(f"column {column!r} row {rows[bad]}: {series[bad]} is out of range (at most 2^63 - 1)")
    values = series.cast(pl.Int64).to_numpy()
    if scale:
        limit = MAX_MAGNITUDE // 10**scale
        over = np.flatnonzero(np.abs(values) > limit)
        if len(over):
            raise LoadError(f"column {column!r} row {rows[over[0]]}: {values[over[0]]} with {scale} decimal places "
                            "is out of range (a stored value must be within +-(2^63 - 1))")
        values = values * 10**scale
    minimum = np.flatnonzero(values == np.iinfo(np.int64).min)
    if len(minimum):
        raise LoadError(f"column {column!r} row {rows[minimum[0]]}: -2^63 is out of range")
    return np.asarray(values, dtype=np.int64)


def _scaled_floats(column: str, series: pl.Series, rows: np.ndarray, scale: int) -> NumericValues:
    floats = series.to_numpy()
    bad = np.flatnonzero(~np.isfinite(floats))
    if len(bad):
        raise LoadError(f"column {column!r} row {rows[bad[0]]}: {floats[bad[0]]} is not a value (NaN or infinity); "
                        "use null for no value")
    scaled = floats * 10.0**scale
    stored = np.rint(scaled)
    over = np.flatnonzero(np.abs(stored) >= 2.0**63)
    if len(over):
        raise LoadError(f"column {column!r} row {rows[over[0]]}: {floats[over[0]]} with {scale} decimal places is out "
                        "of range (a stored value must be within +-(2^63 - 1))")
    rounded = int(np.count_nonzero(np.abs(scaled - stored) > 1e-6 * np.maximum(1.0, np.abs(scaled))))
    return NumericValues(rows, stored.astype(np.int64), rounded)


def _parsed_texts(column: str, series: pl.Series, rows: np.ndarray, kind: DimensionKind) -> np.ndarray:
    unique = series.unique()
    parsed: dict[str, int] = {}
    for text in unique.to_list():
        try:
            parsed[text] = parse_value(kind, text)
        except ValueError as exc:
            row = rows[int(np.argmax((series == text).to_numpy()))]
            raise LoadError(f"column {column!r} row {row}: {exc}") from None
    return np.asarray(series.replace_strict(parsed, return_dtype=pl.Int64).to_numpy(), dtype=np.int64)
