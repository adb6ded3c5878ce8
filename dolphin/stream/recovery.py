"""Recovery at start and adoption of batch versions: a version on disk plus the log it lacks, served."""

from __future__ import annotations

import dataclasses
import logging
import pathlib
import time
from dataclasses import dataclass

from dolphin.engine.cache_budget import CacheBudget
from dolphin.engine.snapshot import Snapshot, StreamState, empty_snapshot
from dolphin.storage import SnapshotData, layout, open_newest_snapshot
from dolphin.storage.cluster_file import shard_pin
from dolphin.storage.wal import recover
from dolphin.stream.replay import replay_records
from dolphin.stream.results import RecoveryReport
from dolphin.stream.settings import IngestSettings
from dolphin.stream.writer_thread import WriterThread

log = logging.getLogger("dolphin.stream")


@dataclass(frozen=True, slots=True)
class Recovered:
    """The state to serve at start (None: no version and an empty log), and where the log ends."""

    snapshot: Snapshot | None
    report: RecoveryReport
    end_position: int


def recover_state(data_dir: pathlib.Path, settings: IngestSettings, served: Snapshot | None,
                  cache: CacheBudget | None = None) -> Recovered:
    """Return the newest valid version (or `served`) with every log record it lacks applied (cache: the read
    caches' budget of a version it reads).

    The log's torn or corrupt tail is cut first (or refused, per settings.truncate_at_corruption).
    """
    started = time.monotonic()
    found = recover(layout.wal_dir(data_dir), max_record=settings.max_record_bytes,
                    truncate_at_corruption=settings.truncate_at_corruption)
    snap = served
    if snap is None:
        data = open_newest_snapshot(data_dir, batch_at_most=shard_pin(data_dir))  # a shard: never past its pin
        snap = Snapshot(data, cache=cache) if data is not None else empty_snapshot(0, cache) if found.records else None
    replayed = mutations = 0
    if snap is not None:
        result = replay_records(snap, found.records, snap.data.manifest, found.end_position, settings.keep_days)
        replayed, mutations = result.records, result.mutations
        snap = result.snapshot
        saved = snap.stream.sequence if not replayed else -1  # a replayed state is on no version yet
        snap = snap.with_stream(dataclasses.replace(snap.stream, saved_sequence=saved), snap.data, set())
    report = RecoveryReport(snap.version if snap else 0, replayed, mutations, found.truncated,
                            round(time.monotonic() - started, 3))
    log.info("stream recovery: version %d, %d log records replayed (%d mutations) in %.3f s",
             report.version, replayed, mutations, report.seconds)
    return Recovered(snap, report, found.end_position)


def adopt_version(writer: WriterThread, data: SnapshotData, keep_days: int = 0) -> Snapshot:
    """Serve a version a batch loader wrote, with the logged mutations acked after its cut time on top
    (keep_days: the event window, as apply_batches takes it)."""

    def adopt() -> Snapshot:
        current = writer.current()
        base = Snapshot(data, StreamState(current.stream.sequence, current.stream.wal_position,
                                          current.stream.offsets), cache=current.cache.emptied())
        result = replay_records(base, writer.logged_records(), data.manifest, current.stream.wal_position,
                                keep_days)
        snap = result.snapshot
        # every tag that differs from the batch version is dirty (-1: before any checkpoint of this state)
        stream = dataclasses.replace(snap.stream, wal_position=current.stream.wal_position,
                                     dirty={k: -1 for k in snap.stream.dirty},
                                     dirty_events={k: -1 for k in snap.stream.dirty_events}, saved_sequence=-1)
        snap = snap.with_stream(stream, snap.data, set())
        writer.publish(snap, "batch load adopted")
        log.info("batch version %d adopted with %d logged batches (%d mutations) after its cut time re-applied",
                 data.version, result.records, result.mutations)
        return snap

    return writer.call(adopt)
