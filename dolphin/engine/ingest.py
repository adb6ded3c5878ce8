"""Stream ingest: exactly-once batches through a write-ahead log, with group commit, checkpoints and recovery.

One writer thread owns the log and every change to the served snapshot. It drains whatever batches are
queued (group commit): validates each against the dimensions and source offsets as they will be after the
batches before it, appends the accepted ones to the log, fsyncs once per the policy, applies them all in one
copy-on-write step, publishes the new snapshot and only then resolves the futures (the acks). A rejected
batch never reaches the log and applies nothing; a batch at or below its source's stored offset is acked as
skipped. Readers never wait for the writer: they read whichever snapshot is published.

A checkpoint asks the writer thread for a barrier (a new log segment and the snapshot that covers everything
before it), writes that snapshot as a new version off the serving path, and then deletes the log segments no
retained version needs. Recovery opens the newest valid version and replays the log after it: from the
version's log position after a checkpoint, or from its cut time after a batch load (see README "Batch loads
and the stream").
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import pathlib
import queue
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyroaring import FrozenBitMap

from dolphin import failpoints
from dolphin.engine.batches import (
    MutationBatch,
    check_batch,
    check_int_ids,
    decode_record,
    encode_record,
    normalized,
)
from dolphin.engine.checkpoint import needed_log_position, write_checkpoint
from dolphin.engine.engine import Engine
from dolphin.engine.mutations import apply_batches
from dolphin.engine.replay import replay_rule
from dolphin.engine.snapshot import Snapshot, StreamState
from dolphin.errors import DolphinError, InvalidArgumentError, QueryLimitError, StorageFullError
from dolphin.storage import (
    DimensionKind,
    IdDictionary,
    Manifest,
    SnapshotData,
    layout,
    open_newest_snapshot,
)
from dolphin.storage.fsutil import full_disk_error
from dolphin.storage.reader import open_snapshot, read_manifest
from dolphin.storage.wal import (
    FileOps,
    Record,
    WalWriter,
    iter_records,
    recover,
    remove_segments_before,
    segment_path,
)
from dolphin.storage.writer import prune_versions

log = logging.getLogger("dolphin.ingest")
MAX_GROUP = 256  # batches sharing one fsync
# mutations applied in one copy-on-write step: bigger steps amortise the per-tag copies, smaller ones hold the
# GIL for shorter stretches (queries on the event loop wait for it)
MAX_GROUP_MUTATIONS = 50_000
REPLAY_CHUNK = 64  # log records applied per copy-on-write step during recovery


@dataclass(frozen=True, slots=True)
class FsyncPolicy:
    """When the log is fsynced: after every group of batches, at most every `interval` seconds, or never."""

    mode: str  # "always" | "interval" | "none"
    interval: float = 0.0

    @staticmethod
    def parse(text: str) -> FsyncPolicy:
        """Parse always, batch (= always), none, or interval=<n>ms|s."""
        if text in ("always", "batch"):
            return FsyncPolicy("always")
        if text == "none":
            return FsyncPolicy("none")
        match = re.fullmatch(r"interval=(\d+(?:\.\d+)?)(ms|s)", text)
        if match and float(match[1]) > 0:
            return FsyncPolicy("interval", float(match[1]) / (1000 if match[2] == "ms" else 1))
        raise ValueError(f'fsync policy "{text}" is not always, batch, none or interval=<n>ms')

    def __str__(self) -> str:
        return f"interval={self.interval * 1000:g}ms" if self.mode == "interval" else self.mode


@dataclass(frozen=True, slots=True)
class IngestSettings:
    """How the stream is made durable; see dolphin.config for the matching settings."""

    fsync: FsyncPolicy = FsyncPolicy("always")
    max_batch_mutations: int = 100_000
    max_record_bytes: int = 64 * 1024 * 1024
    checkpoint_seconds: float = 300.0  # 0: only on request and at shutdown
    wal_retention_seconds: float = 6 * 3600.0  # keep log this long for batch loads cut before it
    truncate_at_corruption: bool = False
    overlay_ratio: float = 0.25  # write a full version when changed tags exceed this share of the base
    keep_versions: int = 3


@dataclass(frozen=True, slots=True)
class Ack:
    """The answer to one batch, once it is durable (per the fsync policy) and visible to queries."""

    source: str
    offset: int
    applied: int  # mutations applied; 0 when skipped
    skipped: bool  # the batch was at or below the source's stored offset
    sequence: int  # stream sequence of the snapshot that first shows the batch


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
    """Counters since start, for Status and metrics."""

    batches: int = 0
    mutations: int = 0
    skipped: int = 0
    rejected: int = 0
    last_applied_at: float = 0.0  # when the newest applied batch entered the log (wall clock)


@dataclass(slots=True)
class _Submitted:
    batch: MutationBatch
    future: concurrent.futures.Future[Ack]
    payload: bytes = b""


@dataclass(slots=True)
class _Barrier:
    run: Callable[[], Any]
    future: concurrent.futures.Future[Any]


def _empty_data(id_type: str = "string") -> SnapshotData:
    manifest = Manifest(version=0, built_at=0.0, shard_bits=20, shards=0, users=0, id_count=0, id_type=id_type,
                        dimensions={}, tags=[], files={})
    return SnapshotData(manifest, IdDictionary.empty(), FrozenBitMap(), {}, {})


class Ingestor:
    """Owns the log and every write to the engine's snapshot; `submit` returns a future Ack."""

    def __init__(self, engine: Engine, settings: IngestSettings | None = None, *, ops: FileOps | None = None,
                 on_fatal: Callable[[BaseException], None] | None = None) -> None:
        self.engine = engine
        self.settings = settings or IngestSettings()
        self.wal_dir = layout.wal_dir(engine.data_dir)
        self.ops = ops or FileOps()
        self.on_fatal = on_fatal or (lambda exc: log.critical("stream ingest stopped: %s", exc))
        self._queue: queue.SimpleQueue[_Submitted | _Barrier | None] = queue.SimpleQueue()
        self._wal: WalWriter | None = None
        self._thread: threading.Thread | None = None
        self._checkpoint_lock = threading.Lock()
        self._stop = threading.Event()
        self._last_sync = 0.0
        self._unsynced = False
        self.failed: BaseException | None = None
        self.storage_full = False  # the last append hit ENOSPC/EFBIG; cleared by the next good append
        self.last_checkpoint: CheckpointResult | None = None
        self.last_checkpoint_sequence = 0
        self._start_position = 0
        self.recovery: RecoveryReport | None = None
        self.stats = IngestStats()

    # -- life cycle --------------------------------------------------------------
    def start(self) -> RecoveryReport:
        """Recover from the log and start the writer (and periodic checkpoint) threads."""
        started = time.monotonic()
        found = recover(self.wal_dir, max_record=self.settings.max_record_bytes,
                        truncate_at_corruption=self.settings.truncate_at_corruption)
        replayed = mutations = 0
        self._start_position = found.end_position
        if not self.engine.ref.loaded:  # open the newest version here, so that nobody sees it before the replay
            self.engine.audiences.refresh()
            data = open_newest_snapshot(self.engine.data_dir)
            if data is not None:
                found_snap: Snapshot | None = Snapshot(data)
            else:
                found_snap = Snapshot(_empty_data()) if found.records else None
        else:
            found_snap = self.engine.ref.current
        if found_snap is not None:  # else the first batch starts from an empty snapshot
            snap = found_snap
            snap, replayed, mutations = self._replay(snap, found.records, snap.data.manifest, found.end_position)
            self.engine.ref.swap(snap)
        snap = self._current()
        self.last_checkpoint_sequence = snap.stream.sequence if not replayed else -1
        segment_path(self.wal_dir, found.end_position).unlink(missing_ok=True)  # if there, it holds no record
        self._wal = WalWriter(self.wal_dir, found.end_position, max_record=self.settings.max_record_bytes,
                              ops=self.ops)
        self.engine.adopt_version = self._adopt_from_reload
        self._thread = threading.Thread(target=self._run, name="dolphin-ingest", daemon=True)
        self._thread.start()
        if self.settings.checkpoint_seconds > 0:
            threading.Thread(target=self._periodic, name="dolphin-checkpoint", daemon=True).start()
        self.recovery = RecoveryReport(snap.version, replayed, mutations, found.truncated,
                                       round(time.monotonic() - started, 3))
        log.info("stream recovery: version %d, %d log records replayed (%d mutations) in %.3f s",
                 snap.version, replayed, mutations, self.recovery.seconds)
        return self.recovery

    def close(self, *, checkpoint: bool = True) -> None:
        """Stop the writer; with checkpoint, write the state first so the next start replays nothing."""
        if self._thread is None:
            return
        if checkpoint and self.failed is None and self.has_unsaved_changes():
            try:
                self.checkpoint()
            except (DolphinError, OSError) as exc:
                log.warning("checkpoint at shutdown skipped (the log keeps every acked batch): %s", exc)
        self._stop.set()
        self._queue.put(None)
        self._thread.join()
        self._thread = None
        self.engine.adopt_version = None
        if self._wal is not None:
            self._wal.close()

    def has_unsaved_changes(self) -> bool:
        """True when batches were applied since the last checkpoint (or replayed at start)."""
        return self.engine.ref.loaded and self.engine.ref.current.stream.sequence != self.last_checkpoint_sequence

    # -- producer side ----------------------------------------------------------
    def submit(self, batch: MutationBatch) -> concurrent.futures.Future[Ack]:
        """Queue a batch; the future resolves with its Ack, or with the error that rejected it."""
        future: concurrent.futures.Future[Ack] = concurrent.futures.Future()
        if self.failed is not None:
            _resolve(future, error=StorageFullError(f"stream ingest stopped after a log failure: {self.failed}"))
        else:
            self._queue.put(_Submitted(normalized(batch), future))
        return future

    def _current(self) -> Snapshot:
        """Return the served snapshot, or an empty one before the first (a stream may start from nothing)."""
        if self.engine.ref.loaded:
            return self.engine.ref.current
        return Snapshot(_empty_data(), StreamState(wal_position=self._start_position))

    def offsets(self) -> dict[str, int]:
        """Return source -> highest applied offset."""
        return dict(self.engine.ref.current.stream.offsets) if self.engine.ref.loaded else {}

    def _in_writer(self, run: Callable[[], Any]) -> Any:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._queue.put(_Barrier(run, future))
        return future.result()

    # -- the writer thread -------------------------------------------------------
    def _run(self) -> None:
        while True:
            interval = self.settings.fsync.mode == "interval"
            timeout = self.settings.fsync.interval if interval and self._unsynced and self.failed is None else None
            try:
                first = self._queue.get(timeout=timeout)
            except queue.Empty:
                self._sync_safely()
                continue
            if first is None:
                self._sync_safely()
                return
            items: list[_Submitted | _Barrier | None] = [first]
            mutations = len(first.batch) if isinstance(first, _Submitted) else 0
            while len(items) < MAX_GROUP and mutations < MAX_GROUP_MUTATIONS:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)
                    break
                items.append(more)
                mutations += len(more.batch) if isinstance(more, _Submitted) else 0
            try:
                self._handle(items)
            except Exception as exc:  # a bug, not bad input: the state may no longer match the log
                log.exception("stream writer failed")
                self._fail(exc)
                for item in items:
                    if item is not None:
                        _resolve(item.future, error=exc)  # a bug stays a bug: INTERNAL, not "disk full"

    def _handle(self, items: list[_Submitted | _Barrier | None]) -> None:
        group: list[_Submitted] = []
        for item in items:
            if isinstance(item, _Barrier):
                self._commit(group)
                group = []
                try:
                    result = item.run()
                except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
                    _resolve(item.future, error=exc)
                else:
                    _resolve(item.future, result)
            elif item is not None:
                group.append(item)
        self._commit(group)

    def _sync_safely(self) -> None:
        if self._unsynced and self._wal is not None and self.failed is None:
            try:
                self._sync()
            except OSError as exc:
                self._fail(exc)

    def _sync(self) -> None:
        assert self._wal is not None
        failpoints.hit("wal.fsync")
        self._wal.sync()
        self._last_sync = time.monotonic()
        self._unsynced = False

    def _fail(self, exc: BaseException) -> None:
        """A log write or fsync failed in a way that may have lost data: stop taking batches."""
        self.failed = exc
        log.critical("write-ahead log failed: %s; acked batches are safe in the log, the rest must be resent", exc)
        self.on_fatal(exc)

    def _accept(self, group: list[_Submitted], snap: Snapshot) -> tuple[list[_Submitted], list[_Submitted],
                                                                         dict[str, DimensionKind]]:
        """Validate batches in order; return (accepted, skipped, kinds after)."""
        kinds = dict(snap.kinds)
        offsets = dict(snap.stream.offsets)
        accepted, skipped = [], []
        int_ids = snap.ids.id_type == "int64" and len(snap.ids) > 0
        for item in group:
            batch = item.batch
            try:
                new_kinds = check_batch(batch, kinds, self.settings.max_batch_mutations)
                if int_ids:
                    check_int_ids(batch)
                stored = offsets.get(batch.source, -1)
                if batch.offset <= stored:
                    skipped.append(item)
                    continue
                if 0 <= batch.first_offset <= stored:
                    raise InvalidArgumentError(
                        f"batch {batch.source}@{batch.offset}: offsets {batch.first_offset}..{batch.offset} overlap "
                        f"the stored offset {stored}; send offsets after {stored} only")
                batch.appended_at = time.time()
                item.payload = encode_record(batch)
                if len(item.payload) > self.settings.max_record_bytes:
                    raise QueryLimitError("batch size in bytes", len(item.payload), self.settings.max_record_bytes,
                                          "max_batch_bytes")
            except DolphinError as exc:
                self.stats.rejected += 1
                _resolve(item.future, error=exc)
                continue
            kinds = new_kinds
            offsets[batch.source] = batch.offset
            accepted.append(item)
        return accepted, skipped, kinds

    def _append(self, accepted: list[_Submitted]) -> list[_Submitted]:
        """Append accepted batches to the log; return the ones written (the rest were failed)."""
        assert self._wal is not None
        written = []
        for i, item in enumerate(accepted):
            try:
                failpoints.hit("wal.before_write")
                self._wal.append(item.payload)
            except OSError as exc:
                self.storage_full = True
                error = StorageFullError(
                    f"data dir is full ({exc.strerror or exc} writing the WAL); batch not applied; "
                    "free space or raise the volume size")
                for rest in accepted[i:]:
                    _resolve(rest.future, error=error)
                log.error("WAL append failed: %s; %d batches refused", exc, len(accepted) - i)
                break
            self.storage_full = False
            written.append(item)
        return written

    def _commit(self, group: list[_Submitted]) -> None:
        if not group:
            return
        if self.failed is not None:
            for item in group:
                _resolve(item.future, error=StorageFullError(f"stream ingest stopped after a log failure: "
                                                           f"{self.failed}"))
            return
        snap = self._current()
        accepted, skipped, kinds = self._accept(group, snap)
        written = self._append(accepted)
        if len(written) != len(accepted):  # a replay of a refused batch in the same group was not applied either
            refused = {item.batch.source for item in accepted[len(written):]}
            stored = snap.stream.offsets
            for item in [i for i in skipped if i.batch.source in refused
                         and i.batch.offset > stored.get(i.batch.source, -1)]:
                skipped.remove(item)
                _resolve(item.future, error=StorageFullError("data dir is full; the batch this one repeats was "
                                                             "not applied either; send it again"))
        if written:
            failpoints.hit("wal.after_write_before_fsync")
            self._unsynced = True
            policy = self.settings.fsync
            try:
                if policy.mode == "always" or (
                        policy.mode == "interval" and time.monotonic() - self._last_sync >= policy.interval):
                    self._sync()
            except OSError as exc:
                self._fail(exc)  # first: nothing may be acked once the log is in doubt (the server exits here)
                for item in written + skipped:
                    _resolve(item.future, error=StorageFullError(f"fsync of the WAL failed: {exc}"))
                return
            failpoints.hit("wal.after_fsync_before_apply")
            if len(written) != len(accepted):  # the kinds may come from a refused batch: recompute them
                kinds = dict(snap.kinds)
                for item in written:
                    kinds = check_batch(item.batch, kinds, len(item.batch))
            offsets = dict(snap.stream.offsets)
            for item in written:
                offsets[item.batch.source] = max(offsets.get(item.batch.source, -1), item.batch.offset)
            assert self._wal is not None
            stream = snap.stream.advanced(self._wal.position, offsets, len(written))
            snap = apply_batches(snap, [w.batch for w in written], kinds, stream)
            self.engine.ref.swap(snap)
            failpoints.hit("wal.after_apply_before_ack")
        sequence = snap.stream.sequence
        if written:
            self.stats.batches += len(written)
            self.stats.mutations += sum(len(w.batch) for w in written)
            self.stats.last_applied_at = written[-1].batch.appended_at
        self.stats.skipped += len(skipped)
        for item in written:
            _resolve(item.future, Ack(item.batch.source, item.batch.offset, len(item.batch), False, sequence))
        for item in skipped:
            _resolve(item.future, Ack(item.batch.source, item.batch.offset, 0, True, sequence))

    # -- recovery and batch loads ---------------------------------------------------
    def _replay(self, snap: Snapshot, records: list[Record], manifest: Manifest, end: int) -> tuple[
            Snapshot, int, int]:
        """Apply the log records a version does not hold; returns (snapshot, records replayed, mutations)."""
        needed = replay_rule(manifest)
        offsets = {str(k): int(v) for k, v in manifest.stream.get("offsets", {}).items()}
        for source, offset in snap.stream.offsets.items():
            offsets[source] = max(offsets.get(source, -1), offset)
        pending: list[MutationBatch] = []
        replayed = mutations = 0
        kinds = dict(snap.kinds)
        for record in records:
            whole = normalized(decode_record(record.payload))  # records logged before values were normalised
            offsets[whole.source] = max(offsets.get(whole.source, -1), whole.offset)
            batch = needed(record, whole)
            if batch is None:
                continue
            try:
                kinds = check_batch(batch, kinds, len(batch) + 1)
                if snap.ids.id_type == "int64" and len(snap.ids):
                    check_int_ids(batch)  # a batch version may have brought integer IDs since it was logged
            except DolphinError as exc:
                log.error("log record at position %d no longer applies and is skipped: %s", record.position, exc)
                continue
            pending.append(batch)
            replayed += 1
            mutations += len(batch)
            if len(pending) >= REPLAY_CHUNK:
                snap = apply_batches(snap, pending, kinds, snap.stream.advanced(record.end, dict(offsets),
                                                                                   len(pending)))
                pending = []
        stream = snap.stream.advanced(end, dict(offsets), len(pending))
        snap = apply_batches(snap, pending, kinds, stream) if pending else snap.with_stream(stream, snap.data, set())
        return snap, replayed, mutations

    def _adopt_from_reload(self, data: SnapshotData) -> Snapshot:
        """Serve a version a batch loader wrote, with the logged mutations acked after its cut time on top."""

        def adopt() -> Snapshot:
            current = self._current()
            base = Snapshot(data, StreamState(current.stream.sequence, current.stream.wal_position,
                                              current.stream.offsets))
            records = list(iter_records(self.wal_dir, max_record=self.settings.max_record_bytes))
            snap, replayed, mutations = self._replay(base, records, data.manifest, current.stream.wal_position)
            stream = dataclasses.replace(snap.stream, wal_position=current.stream.wal_position,
                                         dirty={k: -1 for k in snap.stream.dirty})
            snap = snap.with_stream(stream, snap.data, set())
            self.engine.ref.swap(snap)
            self.last_checkpoint_sequence = -1
            log.info("batch version %d adopted with %d logged batches (%d mutations) after its cut time re-applied",
                     data.version, replayed, mutations)
            return snap

        return self._in_writer(adopt)  # type: ignore[no-any-return]

    # -- checkpoints -------------------------------------------------------------
    def _periodic(self) -> None:
        while not self._stop.wait(self.settings.checkpoint_seconds):
            if self.failed is None and self.has_unsaved_changes():
                try:
                    self.checkpoint()
                except (DolphinError, OSError) as exc:
                    log.error("periodic checkpoint failed (the log still holds every acked batch): %s", exc)

    def checkpoint(self) -> CheckpointResult:
        """Write the served state as a new version and drop the log it makes unnecessary."""
        with self._checkpoint_lock:
            result, served = self._checkpoint_once()
            if served is not None and self._adopt_missed_load(served, result.version):
                result, _ = self._checkpoint_once()  # a batch load landed under it: write that state too
            return result

    def _adopt_missed_load(self, served: int, written: int) -> bool:
        """Serve a batch version a loader committed while a checkpoint was written (numbered between them)."""
        for version in reversed(layout.list_versions(self.engine.data_dir)):
            if not served < version < written:
                continue
            try:
                data = open_snapshot(layout.versions_dir(self.engine.data_dir) / layout.version_name(version))
            except DolphinError as exc:
                log.error("version %d, written during a checkpoint, cannot be read: %s", version, exc)
                continue
            if data.manifest.source.get("kind") != "checkpoint":
                log.warning("batch version %d landed while checkpoint %d was written; serving it now", version,
                            written)
                self._adopt_from_reload(data)
                return True
        return False

    def _checkpoint_once(self) -> tuple[CheckpointResult, int | None]:
        """Write one checkpoint; return it and the version served before it (None when nothing was written)."""
        started = time.monotonic()
        if not self.has_unsaved_changes() and self.engine.ref.loaded:
            current = self.engine.ref.current  # nothing new since the last version: write nothing
            return CheckpointResult(current.version, current.stream.wal_position, False, 0, 0.0, 0.0, []), None

        def barrier() -> tuple[Snapshot, int, float]:
            held = time.monotonic()
            assert self._wal is not None
            if self._wal.position != self._wal.first_position:  # an empty segment needs no successor
                self._sync()
                try:  # the successor first: if the disk is full, the old segment stays the one appended to
                    successor = WalWriter(self.wal_dir, self._wal.position,
                                          max_record=self.settings.max_record_bytes, ops=self.ops)
                except OSError as exc:
                    full = full_disk_error(exc, "a new log segment")
                    if full is None:
                        raise
                    raise full from exc
                self._wal.close()
                self._wal = successor
            snap = self._current()
            return snap, self._wal.first_position, time.monotonic() - held

        snap, position, pause = self._in_writer(barrier)
        assert snap.stream.wal_position == position, (snap.stream.wal_position, position)
        version, incremental, changed = write_checkpoint(self.engine.data_dir, snap, position,
                                                       self.settings.overlay_ratio)
        path = layout.versions_dir(self.engine.data_dir) / layout.version_name(version)
        manifest = read_manifest(path)  # read here, not while ingest waits
        relabel_pause = self._in_writer(lambda: self._relabel(snap, path, manifest))
        failpoints.hit("ckpt.before_wal_truncate")
        if any(snap.version < v < version for v in layout.list_versions(self.engine.data_dir)):
            return CheckpointResult(version, position, incremental, changed, round(pause + relabel_pause, 6),
                                    round(time.monotonic() - started, 3), []), snap.version  # prune after a load
        prune_versions(self.engine.data_dir, self.settings.keep_versions)
        removed = remove_segments_before(self.wal_dir, needed_log_position(self.engine.data_dir, position),
                                         keep_newer_than=time.time() - self.settings.wal_retention_seconds)
        result = CheckpointResult(version, position, incremental, changed, round(pause + relabel_pause, 6),
                                  round(time.monotonic() - started, 3), removed)
        self.last_checkpoint = result
        log.info("checkpoint: version %d at log position %d (%s, %d changed tags) in %.3f s", version, position,
                 "incremental" if incremental else "full", changed, result.seconds)
        return result, snap.version

    def _relabel(self, snap: Snapshot, path: pathlib.Path, manifest: Manifest) -> float:
        """Serve the current state under the new version number; what changed after snap stays dirty."""
        held = time.monotonic()
        current = self._current()
        dirty = {k: s for k, s in current.stream.dirty.items() if s > snap.stream.sequence}
        stream = dataclasses.replace(current.stream, dirty=dirty,
                                     events_dirty=current.data.events is not snap.data.events)
        data = dataclasses.replace(current.data, manifest=manifest, path=path)
        self.engine.ref.swap(current.with_stream(stream, data, set()))
        self.last_checkpoint_sequence = snap.stream.sequence
        return time.monotonic() - held


def _resolve(future: concurrent.futures.Future[Any], result: Any = None, error: BaseException | None = None) -> None:
    """Settle a future unless its caller gave up on it (a cancelled stream: the batch stays applied)."""
    if future.done():
        return
    try:
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
    except concurrent.futures.InvalidStateError:
        pass
