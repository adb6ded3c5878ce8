"""Column-to-tag rules: list columns are multi-valued, booleans are true/false, integers are decimal text,
strings are NFC-normalised, nulls set no tag."""

from __future__ import annotations

import datetime
import unicodedata
from typing import Any

import polars as pl

from dolphin.storage import DimensionKind


def dimension_kind(dtype: pl.DataType) -> DimensionKind:
    """Return MULTI for list and array columns, else SINGLE."""
    return DimensionKind.MULTI if isinstance(dtype, pl.List | pl.Array) else DimensionKind.SINGLE


def value_text(value: Any) -> str:
    """Return the tag value text of one group key."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, datetime.date | datetime.datetime):
        return value.isoformat()
    return str(value)


def usable_dtype(dtype: pl.DataType) -> bool:
    """True for column types that can become tags (scalars, or lists of scalars)."""
    inner = dtype.inner if isinstance(dtype, pl.List | pl.Array) else dtype
    return not isinstance(inner, pl.List | pl.Array | pl.Struct | pl.Object | pl.Binary)
