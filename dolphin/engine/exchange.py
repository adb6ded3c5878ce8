"""Audiences in and out as bitmaps of external integer IDs (ClickHouse, Doris, StarRocks, portable Roaring).

Shared by one node and a cluster front: both turn external IDs into bytes (`bitmap_of`) and bytes into
external IDs (`imported_ids`) the same way; only where the IDs come from differs.
"""

from __future__ import annotations

import numpy as np

from dolphin.engine.results import BitmapExport
from dolphin.errors import InvalidArgumentError, PreconditionError
from dolphin.storage.bitmap_formats import BitmapFormat, decode_ids, encode_ids
from dolphin.storage.ids import IdDictionary

INT64_MAX = np.uint64(2**63 - 1)
__all__ = ["BitmapFormat", "bitmap_of", "decoded_bitmap", "imported_description", "possible_user_ids",
           "require_integer_ids", "sorted_integers"]  # BitmapFormat: the servicers name formats through the engine


def require_integer_ids(id_type: str, what: str) -> None:
    """Raise PreconditionError unless user IDs are integers (what: the operation, for the message)."""
    if id_type != "int64":
        raise PreconditionError(f"{what}: bitmap formats hold integer user IDs and this data's user IDs are strings; "
                                "use an ID list (EXPORT_FORMAT_ID_LIST) or a Parquet/CSV file")


def sorted_integers(ids: IdDictionary, dense: np.ndarray) -> np.ndarray:
    """Return the external IDs of dense IDs as sorted uint64, or PreconditionError when a bitmap cannot hold them."""
    if len(ids):
        require_integer_ids(ids.id_type, "bitmap export")
    values = ids.decode_integers(dense) if len(dense) else np.empty(0, dtype=np.int64)
    negative = int(np.count_nonzero(values < 0))
    if negative:
        raise PreconditionError(f"bitmap formats hold unsigned IDs; this audience has {negative} negative user IDs: "
                                "export it as an ID list or a file")
    return np.sort(values.view(np.uint64))


def bitmap_of(values: np.ndarray, fmt: BitmapFormat, wide: bool, version: int) -> BitmapExport:
    """Return sorted, distinct uint64 IDs as a bitmap export."""
    return BitmapExport(encode_ids(values, fmt, wide=wide), len(values), version)


def decoded_bitmap(data: bytes, fmt: BitmapFormat) -> np.ndarray:
    """Return the sorted uint64 IDs of an imported bitmap; bad bytes are InvalidArgumentError."""
    try:
        return decode_ids(data, fmt)
    except ValueError as exc:
        raise InvalidArgumentError(f"bitmap is not a valid {fmt} bitmap: {exc}") from None


def possible_user_ids(values: np.ndarray) -> tuple[np.ndarray, int]:
    """Return the IDs that can be int64 user IDs (as int64), and how many cannot (above the int64 range)."""
    fits = values <= INT64_MAX
    return values[fits].view(np.int64), int(np.count_nonzero(~fits))


def imported_description(fmt: BitmapFormat) -> str:
    """Return what a saved audience made from a bitmap shows as its expression."""
    return f"(imported {fmt} bitmap)"
