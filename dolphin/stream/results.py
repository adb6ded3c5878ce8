"""What the write side reports: acks, recovery, checkpoints, counters and status (plain values)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Ack:
    """The answer to one batch, once it is durable (per the fsync policy) and visible to queries."""

    source: str
    offset: int
    applied: int  # mutations applied; 0 when skipped
    skipped: bool  # the batch was at or below the source's stored offset
    sequence: int  # stream sequence of the snapshot that first shows the batch
    version: int  # snapshot version of that snapshot (the version on disk it builds on)
    dropped_events: int = 0  # ADD_EVENTs before the keep-days window, not applied (nor counted in applied)


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    """What start-up found in the log."""

    version: int
    replayed: int
    mutations: int
    truncated: list[str]
    seconds: float


@dataclass(frozen=True, slots=True)
class CheckpointResult:
    """One written checkpoint."""

    version: int
    wal_position: int
    incremental: bool
    changed_tags: int
    pause_seconds: float  # how long the writer thread was held (queries never are)
    seconds: float
    removed_segments: list[str]


@dataclass(slots=True)
class IngestStats:
    """Counters since start, kept by the writer thread."""

    batches: int = 0
    mutations: int = 0
    skipped: int = 0
    rejected: int = 0
    dropped_events: int = 0  # ADD_EVENTs before the keep-days window
    last_applied_at: float = 0.0  # when the newest applied batch entered the log (wall clock)


@dataclass(frozen=True, slots=True)
class StreamStatus:
    """The write side at one moment, for Status and metrics."""

    fsync: str
    ready: bool  # a snapshot is served (the first batch of an empty data dir makes one)
    sequence: int
    wal_position: int
    sources: int
    storage_full: bool  # the last log append hit ENOSPC/EFBIG; cleared by the next good one
    stats: IngestStats  # a copy: the writer thread goes on counting in its own
    recovery: RecoveryReport | None
    last_checkpoint_version: int
