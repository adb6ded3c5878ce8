"""On-disk format: ID dictionary, versioned snapshot files, saved-audience files.

Uses numpy, polars and pyroaring. Must not import grpc, dolphin.v1, dolphin.query or dolphin.engine.
"""

from __future__ import annotations

from dolphin.storage.ids import IdDictionary
from dolphin.storage.manifest import DimensionKind, LogPoint, Manifest, MarkKind, StreamMark
from dolphin.storage.reader import SnapshotData, open_newest_snapshot, open_snapshot
from dolphin.storage.writer import SnapshotWriter, bitmap_from_array

__all__ = [
    "DimensionKind",
    "IdDictionary",
    "LogPoint",
    "Manifest",
    "MarkKind",
    "SnapshotData",
    "SnapshotWriter",
    "StreamMark",
    "bitmap_from_array",
    "open_newest_snapshot",
    "open_snapshot",
]
