"""Which shard of a cluster a user belongs to, computed for whole columns at once.

    shard = fmix64(fnv1a64(canonical ID bytes)) mod N

- Canonical ID bytes: the UTF-8 bytes of a string ID as given; for int64 IDs, the integer's 8 bytes, two's
  complement, little-endian (an integer sent as text, "0042", is parsed first, so it lands where 42 does).
- fnv1a64: FNV-1a, 64 bits: h = 0xcbf29ce484222325; for each byte b: h = (h XOR b) * 0x100000001b3 mod 2^64.
- fmix64: MurmurHash3's 64-bit finalizer (xor-shift 33, * 0xff51afd7ed558ccd, xor-shift 33,
  * 0xc4ceb9fe1a85ec53, xor-shift 33), so that the low bits, which mod N reads, depend on every byte.

Both are fixed by their definitions: the same on every machine, in every library version (Python's and Polars'
`hash` are neither). `tests/storage/test_partition.py` pins known values.
"""

from __future__ import annotations

import numpy as np
import polars as pl

FNV_OFFSET = np.uint64(0xCBF29CE484222325)
FNV_PRIME = np.uint64(0x100000001B3)
HASH_NAME = "fmix64(fnv1a64(canonical id bytes)) mod shards"


def integer_ids(ids: pl.Series) -> np.ndarray:
    """Return int64 IDs (given as integers or as their text) as a NumPy array.

    Raises ValueError naming the first ID that is not an integer.
    """
    as_int = ids if ids.dtype == pl.Int64 else ids.cast(pl.Int64, strict=False)
    bad = as_int.is_null() & ids.is_not_null()
    if bad.any():
        raise ValueError(f'user_id "{ids.filter(bad)[0]}" is not an int64')
    return as_int.to_numpy().astype(np.int64, copy=False)


def fnv1a64_of_int64(values: np.ndarray) -> np.ndarray:
    """Return FNV-1a 64 of each int64's 8 little-endian bytes, as uint64 (8 vectorised steps)."""
    bits = values.astype(np.int64, copy=False).view(np.uint64)
    hashes = np.full(len(bits), FNV_OFFSET, dtype=np.uint64)
    for shift in range(0, 64, 8):
        hashes ^= (bits >> np.uint64(shift)) & np.uint64(0xFF)
        hashes *= FNV_PRIME
    return hashes


def fnv1a64(texts: pl.Series) -> np.ndarray:
    """Return FNV-1a 64 of each text's UTF-8 bytes, as uint64; one vectorised step per byte position."""
    import pyarrow as pa  # here: only text IDs need it, and it costs a server 25 MB of RSS

    array = texts.cast(pl.String).to_arrow()
    if isinstance(array, pa.ChunkedArray):
        array = pa.concat_arrays(array.chunks) if array.num_chunks else pa.array([], pa.large_string())
    array = array.cast(pa.large_string())
    _, offsets_buf, data_buf = array.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int64)[array.offset : array.offset + len(array) + 1]
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.empty(0, np.uint8)
    starts, lengths = offsets[:-1], np.diff(offsets)
    hashes = np.full(len(array), FNV_OFFSET, dtype=np.uint64)
    for position in range(int(lengths.max(initial=0))):
        active = lengths > position
        if active.all():  # the common case (IDs of one length): whole-array steps, no index lists
            hashes = (hashes ^ data[starts + position].astype(np.uint64)) * FNV_PRIME
        else:
            rows = np.flatnonzero(active)
            hashes[rows] = (hashes[rows] ^ data[starts[rows] + position].astype(np.uint64)) * FNV_PRIME
    return hashes


def fmix64(values: np.ndarray) -> np.ndarray:
    """Return MurmurHash3's 64-bit finalizer of uint64 values."""
    h = values.astype(np.uint64, copy=True)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    h ^= h >> np.uint64(33)
    return h


def user_hashes(ids: pl.Series, id_type: str) -> np.ndarray:
    """Return fmix64(fnv1a64(canonical ID bytes)) of each user ID, as uint64.

    Raises ValueError when an ID is null (or not an integer, for int64 IDs).
    """
    if ids.null_count():
        raise ValueError(f"{ids.null_count()} user IDs are null; every user needs an ID")
    raw = fnv1a64_of_int64(integer_ids(ids)) if id_type == "int64" else fnv1a64(ids)
    return fmix64(raw)


def shard_of(ids: pl.Series, id_type: str, shards: int) -> np.ndarray:
    """Return each user's shard (uint32) in a cluster of `shards` shards."""
    if shards < 1:
        raise ValueError(f"a cluster needs at least 1 shard, got {shards}")
    return (user_hashes(ids, id_type) % np.uint64(shards)).astype(np.uint32)
