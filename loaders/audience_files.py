"""Audiences as files, through the client: `dolphin query export --output` and `dolphin audience import`.

A table export (Parquet or CSV) is the audience's user IDs (integer IDs ascending: they travel as one portable
bitmap; string IDs in export order), plus a column per `--with` name: a
numeric field's values (typed: Int64, Decimal, Date, Datetime; null without a value) come from one ordered
export of that field; a tag dimension's values from one export per value the audience has (counted first with
BatchCount, so values it lacks cost nothing), a list column for a multi-valued dimension (joined with "|" in
CSV). A bitmap export (`--format roaring|clickhouse|doris`) is the server's bitmap bytes, chunk by chunk. Every
file is written to a temporary name in the same directory, fsynced, then renamed: a reader sees the old file or
the whole new one, never half of it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import pathlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from dolphin.errors import InvalidArgumentError, PreconditionError
from dolphin.query.ast import quote
from dolphin.storage.bitmap_formats import BitmapFormat, decode_ids
from loaders.inputs import Progress

BITMAP_FORMATS = ("roaring", "clickhouse", "doris")
TABLE_SUFFIXES = (".parquet", ".csv")
MAX_EXPANDED_VALUES = 10_000  # values of one --with dimension (ListDimensions lists at most this many)
BATCH = 256  # expressions per BatchCount (the server's default --max-batch-expressions)
MULTI = 2  # catalog DimensionKind number of a multi-valued dimension
LIST_SEPARATOR = "|"  # a multi-valued dimension's values in one CSV cell


@dataclass(frozen=True, slots=True)
class FileExport:
    """What an export wrote."""

    path: pathlib.Path
    users: int
    bytes: int
    seconds: float


@contextlib.contextmanager
def atomic_file(path: pathlib.Path) -> Iterator[pathlib.Path]:
    """Yield a temporary path beside `path`; once the block ends, fsync it and rename it over `path`."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    finally:
        tmp.unlink(missing_ok=True)


def export_file(client: Any, expression: str, output: pathlib.Path, *, bitmap_format: str | None = None,
                columns: list[str] | None = None, bitmap_64: bool = False, progress: Progress | None = None
                ) -> FileExport:
    """Write an audience to output: a bitmap file in bitmap_format, else Parquet or CSV by its suffix."""
    started = time.monotonic()
    show = progress or (lambda done, total, message: None)
    if bitmap_format is not None:
        if bitmap_format not in BITMAP_FORMATS:
            raise InvalidArgumentError(f'--format "{bitmap_format}" is not one of {", ".join(BITMAP_FORMATS)}')
        if columns:
            raise InvalidArgumentError("--with adds columns to a Parquet or CSV file; a bitmap holds only IDs")
        users = _write_bitmap(client, expression, output, bitmap_format, bitmap_64, show)
    else:
        if output.suffix.lower() not in TABLE_SUFFIXES:
            raise InvalidArgumentError(f"{output}: name a .parquet or .csv file, or give --format "
                                       f"{'|'.join(BITMAP_FORMATS)} for a bitmap file")
        users = _write_table(client, expression, output, columns or [], show)
    return FileExport(output, users, output.stat().st_size, round(time.monotonic() - started, 3))


def _write_bitmap(client: Any, expression: str, output: pathlib.Path, fmt: str, bitmap_64: bool,
                  show: Progress) -> int:
    users = written = 0
    with atomic_file(output) as tmp, open(tmp, "wb") as fh:
        for chunk in client.export_bitmap_chunks(expression, fmt, bitmap_64=bitmap_64):
            fh.write(chunk.bitmap_chunk)
            written += len(chunk.bitmap_chunk)
            users = int(chunk.total_count)
            show(written, max(int(chunk.bitmap_bytes), 1), "bitmap bytes written")
    return users


def _user_ids(client: Any, expression: str, show: Progress) -> pl.Series:
    """Return the audience's IDs: integer IDs ascending (they travel as one portable bitmap, the cheapest form),
    negative integer IDs as int64 pages, string IDs as text pages (both in dense-ID order)."""
    try:
        data = bytearray()
        for chunk in client.export_bitmap_chunks(expression, "roaring"):
            data += chunk.bitmap_chunk
            show(len(data), max(int(chunk.bitmap_bytes), 1), "bitmap bytes read")
        return pl.Series("user_id", decode_ids(bytes(data), BitmapFormat.ROARING).view(np.int64))
    except PreconditionError:  # string IDs, or negative ones
        pass
    total = client.count(expression)
    try:
        pages, done = [], 0
        for page in client.export_integers(expression, page_size=10_000):
            pages.append(np.asarray(page, dtype=np.int64))
            done += len(pages[-1])
            show(done, max(total, 1), "user IDs read")
        return pl.Series("user_id", np.concatenate(pages) if pages else np.empty(0, dtype=np.int64))
    except PreconditionError:  # string IDs
        ids: list[str] = []
        for page in client.export_pages(expression, page_size=10_000):
            ids.extend(page.user_ids)
            show(len(ids), max(total, 1), "user IDs read")
        return pl.Series("user_id", ids, dtype=pl.String)


def _dimension(client: Any, name: str) -> Any:
    found = list(client.list_dimensions(dimension=name, max_values=MAX_EXPANDED_VALUES))
    if not found:
        raise InvalidArgumentError(f'--with: no dimension or numeric field "{name}"')
    dimension = found[0]
    if not dimension.numeric.type and dimension.value_count > MAX_EXPANDED_VALUES:
        raise InvalidArgumentError(f'--with: dimension "{name}" has {dimension.value_count} values; at most '
                                   f"{MAX_EXPANDED_VALUES} can become a column")
    return dimension


def _typed(values: pl.Series, numeric: Any) -> pl.Series:
    """Return a numeric field's exact text values as a typed column (empty text: null)."""
    text = values.replace("", None)
    if numeric.type.startswith("decimal"):
        return text.cast(pl.Decimal(38, numeric.scale))
    if numeric.type == "date":
        return text.str.to_date("%Y-%m-%d")
    if numeric.type == "timestamp":
        return text.str.to_datetime("%Y-%m-%dT%H:%M:%SZ", time_unit="us", time_zone="UTC")
    return text.cast(pl.Int64)


def _numeric_column(client: Any, expression: str, name: str, numeric: Any, ids: pl.Series) -> pl.DataFrame:
    integer = ids.dtype == pl.Int64
    id_pages: list[Any] = []
    value_pages: list[str] = []
    for page_ids, page_values in client.export_values(expression, name, integer_ids=integer, page_size=10_000):
        id_pages.append(np.asarray(page_ids, dtype=np.int64) if integer else list(page_ids))
        value_pages.extend(page_values)
    user_ids = (np.concatenate(id_pages) if id_pages else np.empty(0, dtype=np.int64)) if integer else [
        u for page in id_pages for u in page]
    return pl.DataFrame({"user_id": pl.Series(user_ids, dtype=ids.dtype),
                         name: _typed(pl.Series(value_pages, dtype=pl.String), numeric)})


def _tag_column(client: Any, expression: str, dimension: Any, ids: pl.Series) -> pl.DataFrame:
    name = dimension.name
    values = [v.value for v in dimension.values]
    terms = [f"({expression}) AND {quote(name)}={quote(v)}" for v in values]
    counts = [c for start in range(0, len(terms), BATCH) for c in client.batch_count(terms[start : start + BATCH])]
    frames = []
    for value, term, n in zip(values, terms, counts, strict=True):
        if not n:
            continue
        users = (pl.Series(np.concatenate([np.asarray(p, dtype=np.int64)
                                           for p in client.export_integers(term, page_size=10_000)]))
                 if ids.dtype == pl.Int64 else pl.Series(list(client.export(term, page_size=10_000)), dtype=pl.String))
        frames.append(pl.DataFrame({"user_id": users, name: value}))
    pairs = pl.concat(frames) if frames else pl.DataFrame(schema={"user_id": ids.dtype, name: pl.String})
    if dimension.kind == MULTI:
        return pairs.group_by("user_id").agg(pl.col(name).sort())
    return pairs


def _write_table(client: Any, expression: str, output: pathlib.Path, columns: list[str], show: Progress) -> int:
    dimensions = [_dimension(client, name) for name in dict.fromkeys(columns)]  # a bad name fails before any work
    ids = _user_ids(client, expression, show)
    table = pl.DataFrame({"user_id": ids})
    for i, dimension in enumerate(dimensions):
        name = dimension.name
        show(i, len(dimensions), f"column {name}")
        column = (_numeric_column(client, expression, name, dimension.numeric, ids) if dimension.numeric.type
                  else _tag_column(client, expression, dimension, ids))
        table = table.join(column, on="user_id", how="left", maintain_order="left")
    with atomic_file(output) as tmp:
        if output.suffix.lower() == ".parquet":
            table.write_parquet(tmp, compression="zstd", compression_level=1)  # 1: as small as 3 here, faster
        else:
            lists = [c for c, t in table.schema.items() if isinstance(t, pl.List)]
            table.with_columns(pl.col(c).list.join(LIST_SEPARATOR) for c in lists).write_csv(tmp)
    show(len(columns), len(columns), "written")
    return len(table)


def read_bitmap_file(path: pathlib.Path, *, base64_text: bool = False) -> bytes:
    """Return a bitmap file's bytes (base64_text: the file holds base64, as Doris's bitmap_to_base64 prints)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InvalidArgumentError(f"{path}: cannot read the bitmap file: {exc.strerror}") from None
    if not base64_text:
        return raw
    try:
        return base64.b64decode(b"".join(raw.split()), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidArgumentError(f"{path}: --base64 was given but the file is not base64 text") from None
