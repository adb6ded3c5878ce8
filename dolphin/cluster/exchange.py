"""Bitmap exchange over shards: each shard answers with (or saves) a portable bitmap of its own users' external
IDs, and the front merges (or splits) them, so the bytes equal one node's."""

from __future__ import annotations

import time

import grpc
import numpy as np
import polars as pl

from dolphin.cluster.channels import DEFAULT_TIMEOUT, ShardChannels, shard_error
from dolphin.engine.exchange import bitmap_of, decoded_bitmap, possible_user_ids
from dolphin.engine.results import BitmapExport
from dolphin.storage import partition
from dolphin.storage.bitmap_formats import BitmapFormat, decode_ids, encode_ids
from dolphin.v1 import audience_service_pb2 as aud_pb


def shard_bitmap(channels: ShardChannels, shard: int, subject: str, deadline: float | None) -> tuple[np.ndarray, int]:
    """Return one shard's audience as sorted uint64 external IDs, and its snapshot version."""
    timeout = DEFAULT_TIMEOUT if deadline is None else max(0.001, deadline - time.monotonic())
    request = aud_pb.ExportRequest(expression=subject, format=aud_pb.EXPORT_FORMAT_ROARING_PORTABLE)
    try:
        chunks = list(channels.stubs(shard).audiences.Export(request, timeout=timeout))
    except grpc.RpcError as exc:
        raise shard_error(shard, exc, timeout) from None
    data = b"".join(c.bitmap_chunk for c in chunks)
    return decode_ids(data, BitmapFormat.ROARING), int(chunks[0].snapshot_version)


def merged_bitmap(channels: ShardChannels, subject: str, fmt: BitmapFormat, wide: bool,
                  deadline: float | None) -> BitmapExport:
    """Return the audience over every shard as one bitmap (shards hold disjoint users)."""
    parts = [shard_bitmap(channels, k, subject, deadline) for k in range(channels.count)]
    values = np.sort(np.concatenate([ids for ids, _ in parts]))
    return bitmap_of(values, fmt, wide, min(version for _, version in parts))


def shard_parts(data: bytes, fmt: BitmapFormat, shards: int) -> list[bytes]:
    """Return a bitmap's IDs split by owning shard, as portable bitmaps (IDs no user can have go to shard 0,
    which counts them as unknown like the rest)."""
    values = decoded_bitmap(data, fmt)
    users, _ = possible_user_ids(values)
    owner = np.zeros(len(values), dtype=np.uint32)
    fits = values <= np.uint64(2**63 - 1)
    owner[fits] = partition.shard_of(pl.Series("user_id", users, dtype=pl.Int64), "int64", shards)
    return [encode_ids(values[owner == k], BitmapFormat.ROARING) for k in range(shards)]
