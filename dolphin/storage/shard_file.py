"""The shard file format: a header, an offset table and serialized Roaring bitmaps, one entry per tag.

    [magic 8 B][shard index u32][entry count u32][offsets (count + 1) x u64][bitmap bytes ...]

Shard files and the overlay of an incremental version share it.
"""

from __future__ import annotations

import pathlib
import struct
from collections.abc import Iterator

import numpy as np

from dolphin.errors import SnapshotError

SHARD_MAGIC = b"DLPHSHD1"
SHARD_HEADER = struct.Struct("<8sII")  # magic, shard index, entry count


def shard_chunks(shard: int, pieces: list[bytes]) -> Iterator[bytes]:
    """Yield the bytes of a shard file holding pieces (serialized bitmaps, b"" for empty) in order."""
    offsets = np.zeros(len(pieces) + 1, dtype="<u8")
    np.cumsum([len(p) for p in pieces], out=offsets[1:])
    yield SHARD_HEADER.pack(SHARD_MAGIC, shard, len(pieces))
    yield offsets.tobytes()
    yield from pieces


def read_pieces(file: pathlib.Path, shard: int, entries: int) -> list[memoryview]:
    """Return the serialized bitmaps of a shard file; SnapshotError when it does not match the manifest."""
    return pieces_of(file.read_bytes(), file, shard, entries)


def pieces_of(raw: bytes, file: pathlib.Path, shard: int, entries: int) -> list[memoryview]:
    """Return views of the serialized bitmaps in the bytes of a shard file (file names it in errors).

    Views, not copies: a copy per bitmap put 260 MB of short-lived small objects between the long-lived
    containers of a 10M-user load, and the heap kept about 100 MB of holes after it.
    """
    magic, index, count = SHARD_HEADER.unpack_from(raw)
    if magic != SHARD_MAGIC or index != shard or count != entries:
        raise SnapshotError(f"{file}: header does not match the manifest")
    start = SHARD_HEADER.size
    offsets = np.frombuffer(raw, dtype="<u8", count=entries + 1, offset=start)
    base = start + 8 * (entries + 1)
    if base + int(offsets[-1]) != len(raw):
        raise SnapshotError(f"{file}: offset table does not match the file size")
    view = memoryview(raw)
    bounds = (offsets + base).tolist()
    return [view[bounds[i] : bounds[i + 1]] for i in range(entries)]
