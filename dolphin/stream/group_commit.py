"""The writer thread: batches are validated, logged with one fsync per group, applied and published in order.

It drains whatever is queued (group commit): validates each batch against the dimensions and source offsets as
they will be after the batches before it, appends the accepted ones to the log, fsyncs once per the policy,
applies them all in one copy-on-write step, publishes the new snapshot and only then resolves the futures (the
acks). A rejected batch never reaches the log and applies nothing; a batch at or below its source's stored
offset is acked as skipped. Readers never wait for the writer: they read whichever snapshot is published.
"""

from __future__ import annotations

import concurrent.futures
import logging
import pathlib
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pyroaring import AbstractBitMap

from dolphin import failpoints
from dolphin.engine.engine import Engine
from dolphin.engine.release import release
from dolphin.engine.snapshot import Snapshot, empty_snapshot
from dolphin.errors import StorageFullError
from dolphin.storage import DimensionKind
from dolphin.storage.fsutil import full_disk_error
from dolphin.storage.wal import FileOps, Record, WalWriter, iter_records, segment_path
from dolphin.stream.admission import admit
from dolphin.stream.apply import apply_batches
from dolphin.stream.batches import MutationBatch
from dolphin.stream.live_codes import LiveCodes
from dolphin.stream.read_priority import ReadPriority, WriterTurn
from dolphin.stream.results import Ack, IngestStats
from dolphin.stream.settings import IngestSettings

log = logging.getLogger("dolphin.stream")
T = TypeVar("T")
MAX_GROUP = 256  # batches sharing one fsync
# Mutations applied in one copy-on-write step. Every touched tag is copied once per step, so bigger steps amortise
# the copies: at 10M users, 50,000 gave 287k mutations/s and 200,000 gave 446k (bench/stream.py, int64 IDs);
# 500,000 gave no more (420k), and each step holds the GIL longer between a query's chances to run.
MAX_GROUP_MUTATIONS = 200_000


@dataclass(slots=True)
class _Submitted:
    batch: MutationBatch
    future: concurrent.futures.Future[Ack]


@dataclass(slots=True)
class _Call:
    run: Callable[[], Any]
    future: concurrent.futures.Future[Any] = field(default_factory=concurrent.futures.Future)


def resolve(future: concurrent.futures.Future[Any], result: Any = None, error: BaseException | None = None) -> None:
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


class GroupCommit:
    """The writer thread over one log; implements WriterThread for recovery, adoption and checkpoints."""

    def __init__(self, engine: Engine, wal_dir: pathlib.Path, position: int, settings: IngestSettings, *,
                 ops: FileOps, on_fatal: Callable[[BaseException], None], reads: ReadPriority) -> None:
        """Open a new log segment at position (the end of the recovered log); the thread starts with start().

        reads: the server's read calls in flight, which each group's work steps aside for (read_priority.py).
        """
        self.engine = engine
        self.reads = reads
        self.wal_dir = wal_dir
        self.settings = settings
        self.ops = ops
        self.on_fatal = on_fatal
        self.stats = IngestStats()
        self.failed: BaseException | None = None
        self.storage_full = False  # the last append hit ENOSPC/EFBIG; cleared by the next good append
        segment_path(wal_dir, position).unlink(missing_ok=True)  # if there, it holds no record
        self._wal = WalWriter(wal_dir, position, max_record=settings.max_record_bytes, ops=ops)
        self._empty = empty_snapshot(position, engine.new_cache())
        self._queue: queue.SimpleQueue[_Submitted | _Call | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="dolphin-ingest", daemon=True)
        self._last_sync = 0.0
        self._unsynced = False
        self._codes = LiveCodes()  # the writer thread's own: which value each user holds where it SETs

    # -- life cycle and producers ---------------------------------------------------
    def start(self) -> None:
        """Start the writer thread."""
        self._thread.start()

    def stop(self) -> None:
        """Finish what is queued, fsync, stop the thread and close the log."""
        self._queue.put(None)
        self._thread.join()
        self._wal.close()

    def submit(self, batch: MutationBatch) -> concurrent.futures.Future[Ack]:
        """Queue a batch; the future resolves with its Ack, or with the error that rejected it."""
        future: concurrent.futures.Future[Ack] = concurrent.futures.Future()
        if self.failed is not None:
            resolve(future, error=self._stopped_error())
        else:
            self._queue.put(_Submitted(batch, future))
        return future

    def _stopped_error(self) -> StorageFullError:
        return StorageFullError(f"stream ingest stopped after a log failure: {self.failed}")

    # -- WriterThread ---------------------------------------------------------------
    def call(self, run: Callable[[], T]) -> T:
        """Run `run` on the writer thread between two groups; return its result or raise its error."""
        item = _Call(run)
        self._queue.put(item)
        return item.future.result()  # type: ignore[no-any-return]

    def current(self) -> Snapshot:
        """Return the served state, or an empty one before the first snapshot."""
        return self.engine.snapshot() if self.engine.ready else self._empty

    def publish(self, snap: Snapshot, reason: str, defer_to: list[AbstractBitMap] | None = None) -> None:
        """Serve snap (Engine.publish: the replaced bitmaps are freed there, or go to defer_to)."""
        self.engine.publish(snap, reason, defer_to)

    def rotate_log(self) -> int:
        """Fsync and start a new segment (none when the current one is empty); return its first position."""
        if self._wal.position != self._wal.first_position:
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
        return self._wal.first_position

    def logged_records(self) -> list[Record]:
        """Return every record in the retained log."""
        return list(iter_records(self.wal_dir, max_record=self.settings.max_record_bytes))

    # -- the loop -------------------------------------------------------------------
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
            items = self._group(first)
            try:
                self._handle(items)
            except Exception as exc:  # a bug, not bad input: the state may no longer match the log
                log.exception("stream writer failed")
                self._fail(exc)
                for item in items:
                    resolve(item.future, error=exc)  # a bug stays a bug: INTERNAL, not "disk full"

    def _group(self, first: _Submitted | _Call) -> list[_Submitted | _Call]:
        """Return first plus whatever else is queued, up to the group limits."""
        items: list[_Submitted | _Call] = [first]
        mutations = len(first.batch) if isinstance(first, _Submitted) else 0
        while len(items) < MAX_GROUP and mutations < MAX_GROUP_MUTATIONS:
            try:
                more = self._queue.get_nowait()
            except queue.Empty:
                break
            if more is None:
                self._queue.put(None)  # stop after this group
                break
            items.append(more)
            mutations += len(more.batch) if isinstance(more, _Submitted) else 0
        return items

    def _handle(self, items: list[_Submitted | _Call]) -> None:
        group: list[_Submitted] = []
        for item in items:
            if isinstance(item, _Call):
                self._commit(group)
                group = []
                try:
                    result = item.run()
                except BaseException as exc:  # noqa: BLE001 - handed to the waiting caller
                    resolve(item.future, error=exc)
                else:
                    resolve(item.future, result)
            else:
                group.append(item)
        self._commit(group)

    def _sync_safely(self) -> None:
        if self._unsynced and self.failed is None:
            try:
                self._sync()
            except OSError as exc:
                self._fail(exc)

    def _sync(self) -> None:
        failpoints.hit("wal.fsync")
        self._wal.sync()
        self._last_sync = time.monotonic()
        self._unsynced = False

    def _fail(self, exc: BaseException) -> None:
        """A log write or fsync failed in a way that may have lost data: stop taking batches."""
        self.failed = exc
        log.critical("write-ahead log failed: %s; acked batches are safe in the log, the rest must be resent", exc)
        self.on_fatal(exc)

    def _append(self, accepted: list[_Submitted], payloads: list[bytes]) -> int:
        """Append accepted batches to the log in order; return how many were written (the rest are failed)."""
        for i, payload in enumerate(payloads):
            try:
                failpoints.hit("wal.before_write")
                self._wal.append(payload)
            except OSError as exc:
                self.storage_full = True
                error = StorageFullError(
                    f"data dir is full ({exc.strerror or exc} writing the WAL); batch not applied; "
                    "free space or raise the volume size")
                for rest in accepted[i:]:
                    resolve(rest.future, error=error)
                log.error("WAL append failed: %s; %d batches refused", exc, len(accepted) - i)
                return i
            self.storage_full = False
        return len(payloads)

    def _due_sync(self) -> bool:
        policy = self.settings.fsync
        return policy.mode == "always" or (
            policy.mode == "interval" and time.monotonic() - self._last_sync >= policy.interval)

    def _commit(self, group: list[_Submitted]) -> None:
        if not group:
            return
        if self.failed is not None:
            for item in group:
                resolve(item.future, error=self._stopped_error())
            return
        turn = self.reads.turn()
        replaced: list[AbstractBitMap] = []
        snap = self.current()
        verdict = admit([item.batch for item in group], snap, self.settings, time.time())
        turn.pause()
        for index, error in verdict.rejected:
            self.stats.rejected += 1
            resolve(group[index].future, error=error)
        accepted = [group[i] for i in verdict.accepted]
        skipped = [group[i] for i in verdict.skipped]
        written = accepted[: self._append(accepted, verdict.payloads)]
        if len(written) != len(accepted):  # a replay of a refused batch in the same group was not applied either
            refused = {item.batch.source for item in accepted[len(written):]}
            stored = snap.stream.offsets
            for item in [i for i in skipped if i.batch.source in refused
                         and i.batch.offset > stored.get(i.batch.source, -1)]:
                skipped.remove(item)
                resolve(item.future, error=StorageFullError("data dir is full; the batch this one repeats was "
                                                            "not applied either; send it again"))
        if written:
            failpoints.hit("wal.after_write_before_fsync")
            self._unsynced = True
            try:
                if self._due_sync():
                    self._sync()
            except OSError as exc:
                self._fail(exc)  # first: nothing may be acked once the log is in doubt (the server exits here)
                for item in written + skipped:
                    resolve(item.future, error=StorageFullError(f"fsync of the WAL failed: {exc}"))
                return
            failpoints.hit("wal.after_fsync_before_apply")
            kinds = verdict.kinds_of_first(len(written), dict(snap.kinds))
            # the replaced snapshot goes at `snap = ...`, but not its bitmaps: `replaced` frees them after the acks
            snap = self._apply(snap, [item.batch for item in written], kinds, turn, replaced)
            failpoints.hit("wal.after_apply_before_ack")
        self._acknowledge(snap, written, skipped, verdict.dropped_events)
        release(replaced, turn.pause)

    def _apply(self, snap: Snapshot, batches: list[MutationBatch], kinds: dict[str, DimensionKind],
               turn: WriterTurn, replaced: list[AbstractBitMap]) -> Snapshot:
        """Apply logged batches in one copy-on-write step and publish the result (the bitmaps it replaced go to
        `replaced`)."""
        offsets = dict(snap.stream.offsets)
        for batch in batches:
            offsets[batch.source] = max(offsets.get(batch.source, -1), batch.offset)
        stream = snap.stream.advanced(self._wal.position, offsets, len(batches))
        snap = apply_batches(snap, batches, kinds, stream, self.settings.keep_days, turn.pause, self._codes)
        self.publish(snap, "stream", replaced)
        return snap

    def _acknowledge(self, snap: Snapshot, written: list[_Submitted], skipped: list[_Submitted],
                     dropped: list[int]) -> None:
        """Count and ack written and skipped batches with the state that shows them (dropped: per written
        batch, its events before the keep-days window)."""
        if written:
            self.stats.batches += len(written)
            self.stats.mutations += sum(len(w.batch) for w in written) - sum(dropped[: len(written)])
            self.stats.dropped_events += sum(dropped[: len(written)])
            self.stats.last_applied_at = written[-1].batch.appended_at
        self.stats.skipped += len(skipped)
        for item, lost in zip(written, dropped, strict=False):
            resolve(item.future, Ack(item.batch.source, item.batch.offset, len(item.batch) - lost, False,
                                     snap.stream.sequence, snap.version, lost))
        for item in skipped:
            resolve(item.future, Ack(item.batch.source, item.batch.offset, 0, True, snap.stream.sequence,
                                     snap.version))
