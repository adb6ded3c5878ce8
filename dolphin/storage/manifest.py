"""The manifest of a snapshot version: what it holds and the checksum of every file."""

from __future__ import annotations

import enum
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from dolphin.errors import SnapshotError

FORMAT = 1


class DimensionKind(enum.StrEnum):
    """How many values of a dimension one user may have."""

    SINGLE = "single"
    MULTI = "multi"


@dataclass(frozen=True, slots=True)
class FileEntry:
    """Size and crc32 of one file of a version."""

    bytes: int
    crc32: int


@dataclass(frozen=True, slots=True)
class TagEntry:
    """One tag; its position in this list is its entry index in every shard file (after the population)."""

    dimension: str
    value: str
    count: int


@dataclass(frozen=True, slots=True)
class EventEntry:
    """One (campaign, event, day) reach bitmap; stored after the tags in every shard file."""

    campaign: str
    event: str
    day: str
    count: int


@dataclass(frozen=True, slots=True)
class Manifest:
    """Everything a reader needs to verify and open a version."""

    version: int
    built_at: float
    shard_bits: int
    shards: int
    users: int
    id_count: int
    id_type: str
    dimensions: dict[str, DimensionKind]
    tags: list[TagEntry]
    files: dict[str, FileEntry]
    build_seconds: float = 0.0
    source: dict[str, Any] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)
    events: list[EventEntry] = field(default_factory=list)
    # stream state: {"wal_position": int} after a checkpoint, {"cut_time": float} after a batch load, plus
    # {"offsets": {source: offset}}; recovery replays the log from the position or from the cut time
    stream: dict[str, Any] = field(default_factory=dict)
    # an incremental checkpoint: the shard files are the base version's (hard links), and OVERLAY_FILE holds
    # the population and every tag changed since the base; a tag with count 0 there was removed
    overlay: list[TagEntry] | None = None
    base_version: int = 0
    base_id_count: int = 0  # IDs in the shared ids.parquet of an incremental version
    id_files: list[str] = field(default_factory=lambda: ["ids.parquet"])
    format: int = FORMAT

    def to_json(self) -> bytes:
        """Return the manifest as JSON bytes."""
        data = asdict(self)
        data["dimensions"] = {k: str(v) for k, v in self.dimensions.items()}
        return json.dumps(data, ensure_ascii=False, indent=1).encode()

    @staticmethod
    def from_json(raw: bytes, where: str) -> Manifest:
        """Parse manifest JSON; raises SnapshotError naming where it came from."""
        try:
            data = json.loads(raw)
            if data.get("format") != FORMAT:
                raise SnapshotError(f"{where}: unsupported snapshot format {data.get('format')!r}")
            return Manifest(
                version=int(data["version"]),
                built_at=float(data["built_at"]),
                shard_bits=int(data["shard_bits"]),
                shards=int(data["shards"]),
                users=int(data["users"]),
                id_count=int(data["id_count"]),
                id_type=str(data["id_type"]),
                dimensions={k: DimensionKind(v) for k, v in data["dimensions"].items()},
                tags=[TagEntry(**t) for t in data["tags"]],
                files={k: FileEntry(**v) for k, v in data["files"].items()},
                build_seconds=float(data.get("build_seconds", 0.0)),
                source=dict(data.get("source", {})),
                extras=dict(data.get("extras", {})),
                events=[EventEntry(**e) for e in data.get("events", [])],
                stream=dict(data.get("stream", {})),
                overlay=None if data.get("overlay") is None else [TagEntry(**t) for t in data["overlay"]],
                base_version=int(data.get("base_version", 0)),
                base_id_count=int(data.get("base_id_count", 0)),
                id_files=[str(f) for f in data.get("id_files", ["ids.parquet"])],
            )
        except SnapshotError:
            raise
        except (ValueError, KeyError, TypeError) as exc:
            raise SnapshotError(f"{where}: manifest is not valid: {exc}") from exc
