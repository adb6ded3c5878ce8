"""File format of one saved audience: a JSON header and a serialized bitmap, checksummed."""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

from pyroaring import FrozenBitMap

from dolphin.errors import SnapshotError

MAGIC = b"DLPHAUD1"
_HEAD = struct.Struct("<8sI")
_CRC = struct.Struct("<I")


def encode_audience(header: dict[str, Any], bitmap: FrozenBitMap) -> bytes:
    """Return the bytes of an audience file."""
    meta = json.dumps(header, ensure_ascii=False).encode()
    body = _HEAD.pack(MAGIC, len(meta)) + meta + bitmap.serialize()
    return body + _CRC.pack(zlib.crc32(body))


def decode_audience(raw: bytes, where: str) -> tuple[dict[str, Any], FrozenBitMap]:
    """Parse an audience file; raises SnapshotError naming the file when it is damaged."""
    if len(raw) < _HEAD.size + _CRC.size:
        raise SnapshotError(f"{where}: audience file is truncated")
    body, (crc,) = raw[: -_CRC.size], _CRC.unpack(raw[-_CRC.size :])
    if zlib.crc32(body) != crc:
        raise SnapshotError(f"{where}: audience file checksum mismatch")
    magic, meta_len = _HEAD.unpack_from(body)
    if magic != MAGIC:
        raise SnapshotError(f"{where}: not an audience file")
    meta = json.loads(body[_HEAD.size : _HEAD.size + meta_len])
    return meta, FrozenBitMap.deserialize(body[_HEAD.size + meta_len :])
