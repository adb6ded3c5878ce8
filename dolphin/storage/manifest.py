"""The manifest of a snapshot version: what it holds and the checksum of every file."""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from dolphin.errors import SnapshotError

FORMAT = 1
STREAM_MARK_FORMAT = 1


class DimensionKind(enum.StrEnum):
    """How many values of a dimension one user may have, or, for a numeric field, what its integers mean.

    A numeric field is a bit-sliced index stored as the field's tags (dolphin.storage.numbers): INTEGER values
    as they are, DECIMAL_n scaled by 10^n (fixed point), DATE in days and TIMESTAMP in seconds since 1970-01-01
    UTC.
    """

    SINGLE = "single"
    MULTI = "multi"
    INTEGER = "integer"
    DECIMAL_1 = "decimal(1)"
    DECIMAL_2 = "decimal(2)"
    DECIMAL_3 = "decimal(3)"
    DECIMAL_4 = "decimal(4)"
    DECIMAL_5 = "decimal(5)"
    DECIMAL_6 = "decimal(6)"
    DECIMAL_7 = "decimal(7)"
    DECIMAL_8 = "decimal(8)"
    DECIMAL_9 = "decimal(9)"
    DECIMAL_10 = "decimal(10)"
    DECIMAL_11 = "decimal(11)"
    DECIMAL_12 = "decimal(12)"
    DECIMAL_13 = "decimal(13)"
    DECIMAL_14 = "decimal(14)"
    DECIMAL_15 = "decimal(15)"
    DECIMAL_16 = "decimal(16)"
    DECIMAL_17 = "decimal(17)"
    DECIMAL_18 = "decimal(18)"
    DATE = "date"
    TIMESTAMP = "timestamp"

    @property
    def numeric(self) -> bool:
        """True for a numeric field (a bit-sliced index), False for a tag dimension."""
        return self not in (DimensionKind.SINGLE, DimensionKind.MULTI)

    @property
    def scale(self) -> int:
        """Return the decimal places of a DECIMAL field (0 for every other kind)."""
        return int(self.value[8:-1]) if self.value.startswith("decimal(") else 0

    @staticmethod
    def decimal(scale: int) -> DimensionKind:
        """Return the kind of a fixed-point field with this many decimal places (0: INTEGER)."""
        if not 0 <= scale <= 18:
            raise ValueError(f"a decimal scale must be 0 to 18, got {scale}")
        return DimensionKind.INTEGER if scale == 0 else DimensionKind(f"decimal({scale})")


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


class MarkKind(enum.StrEnum):
    """What wrote a version, as far as the stream is concerned."""

    NONE = "none"  # no stream state: counts as a load of every dimension cut at the version's build time
    CHECKPOINT = "checkpoint"  # the served stream state, written by a checkpoint
    BATCH = "batch"  # a batch load


@dataclass(frozen=True, slots=True)
class LogPoint:
    """A point in the stream's history: an exact log position, a wall-clock time, or neither (the whole log)."""

    wal_position: int | None = None
    cut_time: float | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the on-disk form (only the field that is set)."""
        if self.wal_position is not None:
            return {"wal_position": self.wal_position}
        return {} if self.cut_time is None else {"cut_time": self.cut_time}

    @staticmethod
    def from_json(raw: Mapping[str, Any]) -> LogPoint:
        """Parse the on-disk form."""
        if "wal_position" in raw:
            return LogPoint(wal_position=int(raw["wal_position"]))
        return LogPoint(cut_time=float(raw["cut_time"])) if "cut_time" in raw else LogPoint()


@dataclass(frozen=True, slots=True)
class StreamMark:
    """How much of the stream a version holds, which decides what recovery replays over it.

    CHECKPOINT: every log record before `wal_position` is in the version. BATCH: the dimensions in `replaced`
    and the event days in `replaced_days` (first, last ISO day, for every campaign and event) are the truth as
    of `cut_time`; the rest is as fresh as `carried_from` (the previous version's own point). `offsets`
    (source -> highest applied offset) carry over in both.
    """

    kind: MarkKind = MarkKind.NONE
    wal_position: int = 0
    cut_time: float = 0.0
    replaced: tuple[str, ...] = ()
    carried_from: LogPoint = LogPoint()
    offsets: Mapping[str, int] = field(default_factory=dict)
    replaced_days: tuple[str, str] | None = None

    @staticmethod
    def checkpoint(wal_position: int, offsets: Mapping[str, int]) -> StreamMark:
        """Return the mark of a checkpoint covering the log before wal_position."""
        return StreamMark(MarkKind.CHECKPOINT, wal_position=wal_position, offsets=dict(offsets))

    def after_load(self, replaced: set[str], cut_time: float,
                   replaced_days: tuple[str, str] | None = None) -> StreamMark:
        """Return the mark of a batch version built on this one, loading `replaced` (and the event days
        `replaced_days`) as of cut_time.

        The carried dimensions stay as fresh as this version: its checkpoint position, or what it carried from.
        """
        carried = LogPoint(wal_position=self.wal_position) if self.kind is MarkKind.CHECKPOINT else (
            self.carried_from)
        return StreamMark(MarkKind.BATCH, cut_time=cut_time, replaced=tuple(sorted(replaced)),
                          carried_from=carried, offsets=dict(self.offsets), replaced_days=replaced_days)

    def to_json(self) -> dict[str, Any]:
        """Return the on-disk form, tagged with its format."""
        out: dict[str, Any] = {"format": STREAM_MARK_FORMAT, "kind": str(self.kind), "offsets": dict(self.offsets)}
        if self.kind is MarkKind.CHECKPOINT:
            out["wal_position"] = self.wal_position
        elif self.kind is MarkKind.BATCH:
            out |= {"cut_time": self.cut_time, "replaced": list(self.replaced),
                    "carried_from": self.carried_from.to_json()}
            if self.replaced_days is not None:
                out["replaced_days"] = list(self.replaced_days)
        return out

    @staticmethod
    def from_json(raw: Mapping[str, Any]) -> StreamMark:
        """Parse the on-disk form, including the untagged dicts of versions written before the format existed."""
        fmt = raw.get("format", 0)
        if fmt > STREAM_MARK_FORMAT:
            raise ValueError(f"stream mark format {fmt} is newer than this Dolphin reads ({STREAM_MARK_FORMAT})")
        offsets = {str(k): int(v) for k, v in raw.get("offsets", {}).items()}
        kind = MarkKind(raw["kind"]) if fmt else (
            MarkKind.CHECKPOINT if "wal_position" in raw else MarkKind.BATCH if "cut_time" in raw else MarkKind.NONE)
        if kind is MarkKind.CHECKPOINT:
            return StreamMark(kind, wal_position=int(raw["wal_position"]), offsets=offsets)
        if kind is MarkKind.BATCH:
            days = raw.get("replaced_days")
            return StreamMark(kind, cut_time=float(raw["cut_time"]),
                              replaced=tuple(str(d) for d in raw.get("replaced", [])),
                              carried_from=LogPoint.from_json(raw.get("carried_from", {})), offsets=offsets,
                              replaced_days=None if days is None else (str(days[0]), str(days[1])))
        return StreamMark(offsets=offsets)


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
    stream: StreamMark = StreamMark()  # what recovery replays over this version
    # an incremental checkpoint: the shard files are the base version's (hard links), and OVERLAY_FILE holds
    # the population and every tag changed since the base; a tag with count 0 there was removed
    overlay: list[TagEntry] | None = None
    # an incremental checkpoint's event days changed since the base (their pieces follow the overlay's tags in
    # OVERLAY_FILE); count 0: the day was removed
    overlay_events: list[EventEntry] = field(default_factory=list)
    base_version: int = 0
    base_id_count: int = 0  # IDs in the shared ids.parquet of an incremental version
    id_files: list[str] = field(default_factory=lambda: ["ids.parquet"])
    # the batch load this version's data comes from (0: none, a stream from nothing); None for a batch version
    # itself (see `batch`). A cluster shard serves no batch load newer than its pin (cluster_file.shard_pin).
    batch_version: int | None = None
    format: int = FORMAT

    @property
    def batch(self) -> int:
        """Return the number of the batch version this version's data comes from (its own, for a load)."""
        return self.version if self.batch_version is None else self.batch_version

    def to_json(self) -> bytes:
        """Return the manifest as JSON bytes."""
        data = asdict(self)
        data["dimensions"] = {k: str(v) for k, v in self.dimensions.items()}
        data["stream"] = self.stream.to_json()
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
                stream=StreamMark.from_json(data.get("stream", {})),
                overlay=None if data.get("overlay") is None else [TagEntry(**t) for t in data["overlay"]],
                overlay_events=[EventEntry(**e) for e in data.get("overlay_events", [])],
                base_version=int(data.get("base_version", 0)),
                base_id_count=int(data.get("base_id_count", 0)),
                id_files=[str(f) for f in data.get("id_files", ["ids.parquet"])],
                batch_version=None if data.get("batch_version") is None else int(data["batch_version"]),
            )
        except SnapshotError:
            raise
        except (ValueError, KeyError, TypeError) as exc:
            raise SnapshotError(f"{where}: manifest is not valid: {exc}") from exc
