"""Input files of the batch loaders: glob expansion and lazy Polars scans of Parquet and CSV, checked up front."""

from __future__ import annotations

import csv
import glob
import pathlib
from collections.abc import Callable

import polars as pl

from dolphin.errors import LoadError

ROW = "__dolphin_row"
Progress = Callable[[int, int, str], None]
PARQUET_SUFFIXES = {".parquet", ".pq"}
CSV_SUFFIXES = {".csv", ".tsv"}


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
