"""Numeric fields: the integers a bit-sliced index (BSI) stores, how text becomes them, and their slices.

A numeric field is a dimension whose kind is numeric (DimensionKind.INTEGER, DECIMAL_n, DATE, TIMESTAMP) and
whose tags are the slices of a sign-magnitude BSI over dense IDs:

    exists    users with a value
    negative  users whose value is below zero
    bit00 ... bit62   users whose |value| has that bit set

so they live in the shard files, overlays, checkpoints and stream log exactly like tags, and a user's removal
removes its value. A value is an integer of magnitude below 2^63: INTEGER as it is, DECIMAL_n scaled by 10^n
(fixed point, exact), DATE in days and TIMESTAMP in seconds since 1970-01-01T00:00:00Z.
"""

from __future__ import annotations

import datetime
import decimal
import re
from fractions import Fraction

import numpy as np
from pyroaring import AbstractBitMap

from dolphin.storage.manifest import DimensionKind

EXISTS = "exists"
NEGATIVE = "negative"
MAX_BITS = 63
MAX_MAGNITUDE = (1 << MAX_BITS) - 1
BIT_NAMES = tuple(f"bit{i:02d}" for i in range(MAX_BITS))
SLICE_NAMES = frozenset((EXISTS, NEGATIVE, *BIT_NAMES))
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
DAY_SECONDS = 86_400
NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
DATE_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}")
TIME_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?")


def exact_value(kind: DimensionKind, text: str) -> Fraction:
    """Return text as an exact rational in the field's stored units (scaled decimal, days, seconds).

    The result need not be an integer (`spend >= 99.555` on a 2-decimal field); comparisons round it the way
    that keeps them exact. Raises ValueError saying what the field takes.
    """
    text = text.strip()
    if kind is DimensionKind.DATE:
        return Fraction(_days(text))
    if kind is DimensionKind.TIMESTAMP:
        return _seconds(text)
    if not NUMBER.fullmatch(text):
        raise ValueError(f'"{text[:64]}" is not a number')
    number = decimal.Decimal(text)
    # 1e999999999 would be a billion-digit integer: bound the work before any arithmetic
    if number and (number.adjusted() > 30 or number.as_tuple().exponent < -40):  # type: ignore[operator]
        raise ValueError(f'"{text[:64]}" is out of range: a field holds values within +-(2^63 - 1) units of its '
                         "last decimal place")
    return Fraction(number) * Fraction(10**kind.scale)


def parse_value(kind: DimensionKind, text: str) -> int:
    """Return the integer a field stores for text; ValueError when it has more digits than the scale or is out
    of range."""
    value = exact_value(kind, text)
    if value.denominator != 1:
        if kind is DimensionKind.TIMESTAMP:
            raise ValueError(f'"{text}" has fractions of a second; timestamps are whole seconds')
        digits = -decimal.Decimal(text).as_tuple().exponent  # type: ignore[operator]
        raise ValueError(f'"{text}" has {digits} decimal places; the field has {kind.scale}')
    return checked(int(value), text)


def checked(value: int, text: object) -> int:
    """Return value when its magnitude fits the index (below 2^63), else raise ValueError."""
    if abs(value) > MAX_MAGNITUDE:
        raise ValueError(f'"{text}" is out of range: a stored value must be within +-(2^63 - 1)')
    return value


def _days(text: str) -> int:
    if not DATE_TEXT.fullmatch(text):
        raise ValueError(f'"{text[:64]}" is not a date (YYYY-MM-DD)')
    try:
        return (datetime.date.fromisoformat(text) - datetime.date(1970, 1, 1)).days
    except ValueError:
        raise ValueError(f'"{text}" is not a valid date') from None


def _seconds(text: str) -> Fraction:
    if DATE_TEXT.fullmatch(text):
        return Fraction(_days(text) * DAY_SECONDS)
    if not TIME_TEXT.fullmatch(text):
        raise ValueError(f'"{text[:64]}" is not a timestamp (YYYY-MM-DDTHH:MM:SS, UTC unless it says +HH:MM)')
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f'"{text}" is not a valid timestamp') from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    delta = moment - EPOCH
    return Fraction(delta.days * DAY_SECONDS + delta.seconds) + Fraction(delta.microseconds, 1_000_000)


def format_value(kind: DimensionKind, value: int) -> str:
    """Return a stored integer as the field writes it: exact decimal text, an ISO date or an ISO timestamp."""
    if kind is DimensionKind.DATE:
        return (datetime.date(1970, 1, 1) + datetime.timedelta(days=value)).isoformat()
    if kind is DimensionKind.TIMESTAMP:
        return (EPOCH + datetime.timedelta(seconds=value)).strftime("%Y-%m-%dT%H:%M:%SZ")
    if not kind.scale:
        return str(value)
    sign = "-" if value < 0 else ""
    whole, fraction = divmod(abs(value), 10**kind.scale)
    return f"{sign}{whole}.{fraction:0{kind.scale}d}"


def format_values(kind: DimensionKind, values: np.ndarray) -> list[str]:
    """Return format_value of many stored integers, vectorised (an export page's values)."""
    import polars as pl

    series = pl.Series(np.asarray(values, dtype=np.int64))
    if kind is DimensionKind.DATE:
        return series.cast(pl.Int32).cast(pl.Date).dt.strftime("%Y-%m-%d").to_list()
    if kind is DimensionKind.TIMESTAMP:
        return (series * 1_000_000).cast(pl.Datetime("us")).dt.strftime("%Y-%m-%dT%H:%M:%SZ").to_list()
    if not kind.scale:
        return series.cast(pl.String).to_list()
    unit = 10**kind.scale
    magnitude = series.abs()
    text = (pl.when(series < 0).then(pl.lit("-")).otherwise(pl.lit("")) + (magnitude // unit).cast(pl.String) + "."
            + (magnitude % unit).cast(pl.String).str.zfill(kind.scale))
    return pl.select(text.alias("v"))["v"].to_list()


def format_exact(kind: DimensionKind, value: Fraction) -> str:
    """Return a rational in stored units (a mean) as text: dates and timestamps rounded to the nearest day or
    second, numbers to 6 places past the field's scale, trailing zeros dropped."""
    if kind in (DimensionKind.DATE, DimensionKind.TIMESTAMP) or value.denominator == 1:
        return format_value(kind, round(value))
    with decimal.localcontext() as context:
        context.prec = 60
        exact = decimal.Decimal(value.numerator) / decimal.Decimal(value.denominator) / (10**kind.scale)
        text = f"{exact.quantize(decimal.Decimal(1).scaleb(-(kind.scale + 6))):f}"
    return text.rstrip("0").rstrip(".")


def to_float(kind: DimensionKind, value: int | Fraction) -> float:
    """Return a stored value as a double in the field's units (decimals unscaled; days; seconds)."""
    return float(Fraction(value) / 10**kind.scale)


def kind_of_literal(text: str) -> DimensionKind:
    """Return the kind a stream creates a field with from its first value: a date, a timestamp, an integer or a
    decimal with the places written ("12.50": decimal(2)); ValueError when text is none of them."""
    text = text.strip()
    if DATE_TEXT.fullmatch(text):
        return DimensionKind.DATE
    if TIME_TEXT.fullmatch(text):
        return DimensionKind.TIMESTAMP
    if not NUMBER.fullmatch(text) or "e" in text.lower():
        raise ValueError(f'"{text[:64]}" is not a number, a date or a timestamp')
    places = len(text.split(".", 1)[1]) if "." in text else 0
    if places > 18:
        raise ValueError(f'"{text[:64]}" has {places} decimal places; a field has at most 18')
    return DimensionKind.decimal(places)


def slice_bitmaps(dense: np.ndarray, values: np.ndarray) -> dict[str, AbstractBitMap]:
    """Return the non-empty slices of (dense ID, int64 value) pairs: exists, negative and one per set bit."""
    from dolphin.storage.writer import bitmap_from_array  # the writer imports numbers for its kinds

    dense = np.asarray(dense, dtype=np.uint32)
    values = np.asarray(values, dtype=np.int64)
    if len(dense) == 0:
        return {}
    if int(values.min()) < -MAX_MAGNITUDE:
        raise ValueError("a value is out of range: a stored value must be within +-(2^63 - 1)")
    slices: dict[str, AbstractBitMap] = {EXISTS: bitmap_from_array(dense)}
    negative = values < 0
    if negative.any():
        slices[NEGATIVE] = bitmap_from_array(dense[negative])
    magnitude = np.abs(values).astype(np.uint64)
    for bit in range(int(magnitude.max()).bit_length()):
        mask = (magnitude >> np.uint64(bit)) & np.uint64(1)
        if mask.any():
            slices[BIT_NAMES[bit]] = bitmap_from_array(dense[mask.astype(bool)])
    return slices
