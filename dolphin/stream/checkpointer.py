"""Checkpoints: the served stream state written as a version, then the log it makes unnecessary dropped.

A checkpoint asks the writer thread for a barrier (a new log segment and the state that covers everything
before it), writes that state as a new version off the serving path, serves the state under the new version
number, and then deletes the log segments no retained version needs.
"""

from __future__ import annotations

import dataclasses
import logging
import pathlib
import threading
import time
from collections.abc import Callable

from dolphin import failpoints
from dolphin.engine.snapshot import Snapshot
from dolphin.errors import DolphinError
from dolphin.storage import Manifest, MarkKind, SnapshotData, layout
from dolphin.storage.cluster_file import shard_pin
from dolphin.storage.reader import open_snapshot, read_manifest
from dolphin.storage.wal import remove_segments_before
from dolphin.storage.writer import prune_versions
from dolphin.stream.checkpoint import needed_log_position, write_checkpoint
from dolphin.stream.results import CheckpointResult
from dolphin.stream.settings import IngestSettings
from dolphin.stream.writer_thread import WriterThread

log = logging.getLogger("dolphin.stream")


class Checkpointer:
    """Writes checkpoints of one writer thread's state, on request and every settings.checkpoint_seconds."""

    def __init__(self, writer: WriterThread, data_dir: pathlib.Path, settings: IngestSettings,
                 adopt: Callable[[SnapshotData], Snapshot]) -> None:
        self.writer = writer
        self.data_dir = data_dir
        self.settings = settings
        self.adopt = adopt
        self.last: CheckpointResult | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def start_periodic(self, due: Callable[[], bool]) -> None:
        """Checkpoint every checkpoint_seconds while due() (0: never on a timer)."""
        if self.settings.checkpoint_seconds > 0:
            threading.Thread(target=self._periodic, args=(due,), name="dolphin-checkpoint", daemon=True).start()

    def stop(self) -> None:
        """Stop the periodic checkpoints."""
        self._stop.set()

    def _periodic(self, due: Callable[[], bool]) -> None:
        while not self._stop.wait(self.settings.checkpoint_seconds):
            if due():
                try:
                    self.checkpoint()
                except (DolphinError, OSError) as exc:
                    log.error("periodic checkpoint failed (the log still holds every acked batch): %s", exc)

    def checkpoint(self) -> CheckpointResult:
        """Write the served state as a new version and drop the log it makes unnecessary."""
        with self._lock:
            result, served = self._checkpoint_once()
            if served is not None and self._adopt_missed_load(served, result.version):
                result, _ = self._checkpoint_once()  # a batch load landed under it: write that state too
            return result

    def _adopt_missed_load(self, served: int, written: int) -> bool:
        """Serve a batch version a loader committed while a checkpoint was written (numbered between them).

        A cluster shard takes one only up to its pin: the front moves every shard to a new load at once.
        """
        pin = shard_pin(self.data_dir)
        for version in reversed(layout.list_versions(self.data_dir)):
            if not served < version < written or (pin is not None and version > pin):
                continue
            try:
                data = open_snapshot(layout.versions_dir(self.data_dir) / layout.version_name(version))
            except DolphinError as exc:
                log.error("version %d, written during a checkpoint, cannot be read: %s", version, exc)
                continue
            if data.manifest.stream.kind is not MarkKind.CHECKPOINT:
                log.warning("batch version %d landed while checkpoint %d was written; serving it now", version,
                            written)
                self.adopt(data)
                return True
        return False

    def _barrier(self) -> tuple[Snapshot, int, float]:
        """(On the writer thread) start a new log segment; return the state before it, its position, the pause."""
        held = time.monotonic()
        position = self.writer.rotate_log()
        return self.writer.current(), position, time.monotonic() - held

    def _relabel(self, snap: Snapshot, path: pathlib.Path, manifest: Manifest) -> float:
        """(On the writer thread) serve the current state under the new version; what changed after snap stays
        dirty."""
        held = time.monotonic()
        current = self.writer.current()
        dirty = {k: s for k, s in current.stream.dirty.items() if s > snap.stream.sequence}
        dirty_events = {k: s for k, s in current.stream.dirty_events.items() if s > snap.stream.sequence}
        stream = dataclasses.replace(current.stream, dirty=dirty, dirty_events=dirty_events,
                                     saved_sequence=snap.stream.sequence)
        data = dataclasses.replace(current.data, manifest=manifest, path=path)
        self.writer.publish(current.with_stream(stream, data, set()), "checkpoint")
        return time.monotonic() - held

    def _checkpoint_once(self) -> tuple[CheckpointResult, int | None]:
        """Write one checkpoint; return it and the version served before it (None when nothing was written)."""
        started = time.monotonic()
        current = self.writer.current()
        if not current.unsaved and current.data.path is not None:  # a version on disk holds it: write nothing
            return CheckpointResult(current.version, current.stream.wal_position, False, 0, 0.0, 0.0, []), None
        snap, position, pause = self.writer.call(self._barrier)
        assert snap.stream.wal_position == position, (snap.stream.wal_position, position)
        version, incremental, changed = write_checkpoint(self.data_dir, snap, position, self.settings.overlay_ratio)
        path = layout.versions_dir(self.data_dir) / layout.version_name(version)
        manifest = read_manifest(path)  # read here, not while ingest waits
        pause += self.writer.call(lambda: self._relabel(snap, path, manifest))
        failpoints.hit("ckpt.before_wal_truncate")
        if any(snap.version < v < version for v in layout.list_versions(self.data_dir)):
            return CheckpointResult(version, position, incremental, changed, round(pause, 6),
                                    round(time.monotonic() - started, 3), []), snap.version  # prune after a load
        prune_versions(self.data_dir, self.settings.keep_versions)
        removed = remove_segments_before(layout.wal_dir(self.data_dir), needed_log_position(self.data_dir, position),
                                         keep_newer_than=time.time() - self.settings.wal_retention_seconds)
        result = CheckpointResult(version, position, incremental, changed, round(pause, 6),
                                  round(time.monotonic() - started, 3), removed)
        self.last = result
        log.info("checkpoint: version %d at log position %d (%s, %d changed tags) in %.3f s", version, position,
                 "incremental" if incremental else "full", changed, result.seconds)
        return result, snap.version
