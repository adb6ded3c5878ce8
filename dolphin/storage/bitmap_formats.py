"""Roaring bitmaps of external integer IDs in the byte formats other systems read and write.

- ROARING: the RoaringFormatSpec portable format (https://github.com/RoaringBitmap/RoaringFormatSpec): 32-bit
  when every ID fits, else its 64-bit extension (uint64 bucket count, then per bucket the high 32 bits as uint32
  and a 32-bit portable bitmap of the low 32 bits).
- CLICKHOUSE: the state of `groupBitmap(UInt32)` or `groupBitmap(UInt64)` (ClickHouse's RoaringBitmapWithSmallSet):
  a flag byte, then up to 32 values as a varint count and raw little-endian integers (flag 0), or a varint byte
  size and the 32-bit portable bitmap or the 64-bit extension (flag 1). Checked against chdb's own states.
- DORIS: the BITMAP binary of Apache Doris and StarRocks (`bitmap_from_binary`, `bitmap_from_base64`; Doris
  be/src/util/bitmap_value.h): a type byte, then nothing (0 EMPTY), a uint32 (1 SINGLE32), a 32-bit portable
  bitmap (2 BITMAP32), a uint64 (3 SINGLE64), or a varint bucket count and buckets as in the 64-bit extension (4
  BITMAP64). Reading also takes the newer types: 5 SET (uint8 count, uint64s), 10 SET_V2 (uint32 count,
  uint64s), 12 and 13 (BITMAP32/64 with CRoaring's native serialization inside).

IDs travel as sorted, distinct uint64 NumPy arrays. Decoders check every length before reading and raise
ValueError saying what is wrong; they never read past the buffer.
"""

from __future__ import annotations

import array
import enum
import struct

import numpy as np
from pyroaring import BitMap, BitMap64

U32_MAX = 2**32 - 1
CLICKHOUSE_SMALL = 32  # ClickHouse keeps up to 32 values as a plain set
MANUAL_BUCKETS = 4096  # above this many distinct high words, CRoaring's own 64-bit serializer is faster
COOKIE_NO_RUNS = 12346
COOKIE_RUNS = 12347
NO_OFFSET_THRESHOLD = 4


class BitmapFormat(enum.StrEnum):
    """A byte format of a bitmap of external IDs."""

    ROARING = "roaring"
    CLICKHOUSE = "clickhouse"
    DORIS = "doris"


def encode_ids(ids: np.ndarray, fmt: BitmapFormat, *, wide: bool = False) -> bytes:
    """Return sorted, distinct uint64 IDs in a format; `wide` forces the 64-bit form even when all fit 32 bits."""
    wide = wide or (len(ids) > 0 and int(ids[-1]) > U32_MAX)
    if fmt is BitmapFormat.ROARING:
        return portable64(ids) if wide else portable32(ids)
    if fmt is BitmapFormat.CLICKHOUSE:
        return _clickhouse(ids, wide)
    return _doris(ids, wide)


def decode_ids(data: bytes, fmt: BitmapFormat) -> np.ndarray:
    """Return the sorted, distinct uint64 IDs a bitmap in this format holds; ValueError when it is not one."""
    view = memoryview(data)
    if fmt is BitmapFormat.ROARING:
        ids, end = _roaring_any(view, 0)
    elif fmt is BitmapFormat.CLICKHOUSE:
        ids, end = _read_clickhouse(view)
    else:
        ids, end = _read_doris(view)
    if end != len(data):
        raise ValueError(f"{len(data) - end} bytes after the end of the bitmap")
    return ids


# -- encoders ---------------------------------------------------------------------

def portable32(ids: np.ndarray, runs: bool = True) -> bytes:
    """Return IDs below 2^32 as a 32-bit portable Roaring bitmap (with run containers where smaller, unless not
    `runs`: Doris and StarRocks write none, and their documented bytes have none)."""
    buf = array.array("I")
    buf.frombytes(np.ascontiguousarray(ids, dtype=np.uint32).tobytes())
    bitmap = BitMap(buf, optimize=False)  # building plainly, then run-optimising, is faster than optimize=True
    if runs:
        bitmap.run_optimize()
    return bytes(bitmap.serialize())


def portable64(ids: np.ndarray, runs: bool = True) -> bytes:
    """Return IDs as the portable 64-bit extension (bucket count, then high word and 32-bit bitmap per bucket)."""
    ids = np.ascontiguousarray(ids, dtype=np.uint64)
    high = (ids >> np.uint64(32)).astype(np.uint32)
    keys, starts = np.unique(high, return_index=True)
    if len(keys) > MANUAL_BUCKETS:
        buf = array.array("Q")
        buf.frombytes(ids.tobytes())
        return bytes(BitMap64(buf, optimize=runs).serialize())
    ends = starts[1:].tolist() + [len(ids)] if len(keys) else []
    parts = [struct.pack("<Q", len(keys))]
    for key, start, end in zip(keys.tolist(), starts.tolist(), ends, strict=True):
        parts += [struct.pack("<I", key), portable32(ids[start:end] & np.uint64(U32_MAX), runs)]
    return b"".join(parts)


def varint(value: int) -> bytes:
    """Return an unsigned LEB128 varint (ClickHouse's writeVarUInt, Doris's encode_varint64)."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _clickhouse(ids: np.ndarray, wide: bool) -> bytes:
    if len(ids) <= CLICKHOUSE_SMALL:
        raw = np.ascontiguousarray(ids, dtype="<u8" if wide else "<u4").tobytes()
        return b"\x00" + varint(len(ids)) + raw
    payload = portable64(ids) if wide else portable32(ids)
    return b"\x01" + varint(len(payload)) + payload


def _doris(ids: np.ndarray, wide: bool) -> bytes:
    if not len(ids):
        return b"\x00"
    if len(ids) == 1:
        value = int(ids[0])
        return b"\x03" + struct.pack("<Q", value) if wide else b"\x01" + struct.pack("<I", value)
    if not wide:
        return b"\x02" + portable32(ids, runs=False)
    extension = portable64(ids, runs=False)  # the same buckets, with a varint count instead of a uint64
    return b"\x04" + varint(struct.unpack_from("<Q", extension)[0]) + extension[8:]


# -- decoders ---------------------------------------------------------------------

def _need(view: memoryview, at: int, size: int, what: str) -> None:
    if size < 0 or at + size > len(view):
        raise ValueError(f"the bitmap ends inside {what} (needs {size} bytes at byte {at}, has {len(view) - at})")


def _u(view: memoryview, at: int, fmt: str, what: str) -> int:
    _need(view, at, struct.calcsize(fmt), what)
    return int(struct.unpack_from(fmt, view, at)[0])


def read_varint(view: memoryview, at: int) -> tuple[int, int]:
    """Return an unsigned LEB128 varint and the position after it."""
    value = shift = 0
    while True:
        byte = _u(view, at, "<B", "a varint")
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7
        if shift > 63:
            raise ValueError("a varint is longer than 10 bytes")


def portable32_size(view: memoryview, at: int) -> int:
    """Return the byte size of the 32-bit portable bitmap at `at`, walking its header (RoaringFormatSpec)."""
    cookie = _u(view, at, "<I", "the bitmap's cookie")
    start = at
    if cookie & 0xFFFF == COOKIE_RUNS:
        count = (cookie >> 16) + 1
        at += 4
        _need(view, at, (count + 7) // 8, "the run flags")
        runs = bytes(view[at : at + (count + 7) // 8])
        at += (count + 7) // 8
    elif cookie == COOKIE_NO_RUNS:
        count = _u(view, at + 4, "<I", "the container count")
        at += 8
        runs = bytes((count + 7) // 8)
    else:
        raise ValueError(f"not a portable Roaring bitmap (cookie {cookie & 0xFFFF}, expected {COOKIE_NO_RUNS} or "
                         f"{COOKIE_RUNS})")
    if count > 1 << 16:
        raise ValueError(f"a 32-bit bitmap holds at most 65536 containers, this one says {count}")
    _need(view, at, 4 * count, "the container keys")
    header = np.frombuffer(view, dtype="<u2", count=2 * count, offset=at).reshape(-1, 2)
    cards = header[:, 1].astype(np.int64) + 1
    at += 4 * count
    if cookie == COOKIE_NO_RUNS or count >= NO_OFFSET_THRESHOLD:
        at += 4 * count  # the offsets
    for i in range(count):
        if runs[i // 8] >> (i % 8) & 1:
            at += 2 + 4 * _u(view, at, "<H", "a run container")
        else:
            at += 8192 if cards[i] > 4096 else 2 * int(cards[i])
    _need(view, start, at - start, "the containers")
    return at - start


def _portable32_at(view: memoryview, at: int) -> tuple[np.ndarray, int]:
    size = portable32_size(view, at)
    try:
        bitmap = BitMap.deserialize(bytes(view[at : at + size]))
    except ValueError:
        raise ValueError(f"the portable bitmap at byte {at} is damaged") from None
    return np.frombuffer(bitmap.to_array(), dtype=np.uint32).astype(np.uint64), at + size


def _portable64_at(view: memoryview, at: int, count: int) -> tuple[np.ndarray, int]:
    """Read `count` buckets (high word, 32-bit portable bitmap) from `at`."""
    parts = []
    last = -1
    for _ in range(count):
        key = _u(view, at, "<I", "a bucket's high word")
        if key <= last:
            raise ValueError(f"bucket high words are not increasing ({key} after {last})")
        last = key
        low, at = _portable32_at(view, at + 4)
        parts.append(low | np.uint64(key << 32))
    return (np.concatenate(parts) if parts else np.empty(0, dtype=np.uint64)), at


def _roaring_any(view: memoryview, at: int) -> tuple[np.ndarray, int]:
    """Read a 32-bit portable bitmap or the 64-bit extension, whichever is at `at`."""
    first = _u(view, at, "<I", "the bitmap's header")
    if first & 0xFFFF in (COOKIE_NO_RUNS, COOKIE_RUNS) and (first == COOKIE_NO_RUNS or first & 0xFFFF == COOKIE_RUNS):
        try:
            return _portable32_at(view, at)
        except ValueError:
            if _u(view, at + 4, "<I", "the bucket count") != 0:
                raise  # a real 64-bit header has a count below 2^32 buckets: its high half is zero
    count = _u(view, at, "<Q", "the bucket count")
    if count > len(view):
        raise ValueError(f"the 64-bit bitmap says {count} buckets, more than its {len(view)} bytes hold")
    return _portable64_at(view, at + 8, count)


def _read_clickhouse(view: memoryview) -> tuple[np.ndarray, int]:
    flag = _u(view, 0, "<B", "the state's flag byte")
    if flag == 0:
        count, at = read_varint(view, 1)
        rest = len(view) - at
        if count > CLICKHOUSE_SMALL or rest not in (4 * count, 8 * count):
            raise ValueError(f"a small groupBitmap state of {count} values cannot be {rest} bytes")
        width = "<u4" if count and rest == 4 * count else "<u8"
        values = np.unique(np.frombuffer(view, dtype=width, count=count, offset=at).astype(np.uint64))
        return values, len(view)
    if flag != 1:
        raise ValueError(f"a groupBitmap state starts with 0 or 1, not {flag}")
    size, at = read_varint(view, 1)
    _need(view, at, size, "the state's bitmap")
    ids, end = _roaring_any(view[: at + size], at)
    if end != at + size:
        raise ValueError(f"the state's bitmap is {end - at} bytes, its header says {size}")
    return ids, end


def _native32_at(view: memoryview, at: int) -> tuple[np.ndarray, int]:
    """Read CRoaring's native serialization: 1 + uint32 count + uint32s, or 2 + a portable bitmap."""
    kind = _u(view, at, "<B", "a native bitmap's type")
    if kind == 1:
        count = _u(view, at + 1, "<I", "the value count")
        _need(view, at + 5, 4 * count, "the values")
        values = np.unique(np.frombuffer(view, dtype="<u4", count=count, offset=at + 5).astype(np.uint64))
        return values, at + 5 + 4 * count
    if kind == 2:
        return _portable32_at(view, at + 1)
    raise ValueError(f"a native Roaring bitmap starts with 1 or 2, not {kind}")


def _read_doris(view: memoryview) -> tuple[np.ndarray, int]:
    kind = _u(view, 0, "<B", "the type byte")
    if kind == 0:
        return np.empty(0, dtype=np.uint64), 1
    if kind in (1, 3):
        fmt = "<I" if kind == 1 else "<Q"
        return np.array([_u(view, 1, fmt, "the single value")], dtype=np.uint64), 1 + struct.calcsize(fmt)
    if kind == 2:
        return _portable32_at(view, 1)
    if kind == 12:
        return _native32_at(view, 1)
    if kind in (4, 13):
        count, at = read_varint(view, 1)
        if kind == 4:
            return _portable64_at(view, at, count)
        parts = []
        for _ in range(count):
            key = _u(view, at, "<I", "a bucket's high word")
            low, at = _native32_at(view, at + 4)
            parts.append(low | np.uint64(key << 32))
        return np.unique(np.concatenate(parts)) if parts else np.empty(0, dtype=np.uint64), at
    if kind in (5, 10):
        count, at = (_u(view, 1, "<B", "the set size"), 2) if kind == 5 else (_u(view, 1, "<I", "the set size"), 5)
        _need(view, at, 8 * count, "the set's values")
        values = np.unique(np.frombuffer(view, dtype="<u8", count=count, offset=at))
        return values.astype(np.uint64), at + 8 * count
    raise ValueError(f"unknown Doris bitmap type {kind} (known: 0-5, 10, 12, 13)")
