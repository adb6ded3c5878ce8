"""The write side of one data dir: exactly-once stream batches through a write-ahead log, and batch versions.

`Ingestor` puts the parts together: recovery at start (`recovery`), the writer thread (`group_commit`),
checkpoints (`checkpointer`), and the adoption of versions a batch loader writes (the engine hands them over
through the VersionAdopter it was built with). It reaches the served state only through `Engine.publish`.

Build order: the Ingestor first, then the engine with it as its adopter, then `start(engine)`::

    ingestor = Ingestor(data_dir, settings)
    engine = Engine(data_dir, load=False, adopter=ingestor)
    ingestor.start(engine)
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import os
import pathlib
from collections.abc import Callable
from dataclasses import dataclass

from dolphin.engine.engine import Engine, EngineLimits
from dolphin.engine.memory import return_free_memory
from dolphin.errors import DolphinError, NotReadyError
from dolphin.storage import SnapshotData, layout
from dolphin.storage.wal import FileOps
from dolphin.stream.batches import MutationBatch, normalized
from dolphin.stream.checkpointer import Checkpointer
from dolphin.stream.group_commit import GroupCommit
from dolphin.stream.read_priority import ReadPriority
from dolphin.stream.recovery import adopt_version, recover_state
from dolphin.stream.results import Ack, CheckpointResult, IngestStats, RecoveryReport, StreamStatus
from dolphin.stream.settings import IngestSettings

log = logging.getLogger("dolphin.stream")


@dataclass(frozen=True, slots=True)
class _Running:
    """The parts that exist between start and close."""

    engine: Engine
    writer: GroupCommit
    checkpointer: Checkpointer


class Ingestor:
    """Owns the log and every stream write to the engine's state; `submit` returns a future Ack."""

    def __init__(self, data_dir: str | os.PathLike[str], settings: IngestSettings | None = None, *,
                 ops: FileOps | None = None, on_fatal: Callable[[BaseException], None] | None = None) -> None:
        self.data_dir = pathlib.Path(data_dir)
        self.settings = settings or IngestSettings()
        self.ops = ops or FileOps()
        self.on_fatal = on_fatal or (lambda exc: log.critical("stream ingest stopped: %s", exc))
        self.recovery: RecoveryReport | None = None
        self.reads = ReadPriority()  # the server marks its read calls; the writer steps aside for them
        self._running: _Running | None = None

    # -- life cycle --------------------------------------------------------------
    def start(self, engine: Engine) -> RecoveryReport:
        """Recover (the newest version plus the log it lacks, served before anyone queries) and start writing."""
        served = engine.snapshot() if engine.ready else None
        recovered = recover_state(self.data_dir, self.settings, served, engine.new_cache())
        self.recovery = recovered.report  # before the state is served: a Status right after the first answer shows it
        if recovered.snapshot is not None:  # else the first batch starts from an empty state
            engine.publish(recovered.snapshot, "recovery")
        # reading the version left its scratch on the heap (Engine.reload trims after its own reads): at 10M
        # users a server with the stream started at 808 MB without this, 551 MB with it (bench/memory.py)
        return_free_memory()
        writer = GroupCommit(engine, layout.wal_dir(self.data_dir), recovered.end_position, self.settings,
                             ops=self.ops, on_fatal=self.on_fatal, reads=self.reads)
        keep_days = self.settings.keep_days
        checkpointer = Checkpointer(writer, self.data_dir, self.settings,
                                    lambda data: adopt_version(writer, data, keep_days))
        self._running = _Running(engine, writer, checkpointer)
        writer.start()
        checkpointer.start_periodic(lambda: writer.failed is None and self.has_unsaved_changes())
        return recovered.report

    def close(self, *, checkpoint: bool = True) -> None:
        """Stop the writer; with checkpoint, write the state first so the next start replays nothing."""
        running = self._running
        if running is None:
            return
        if checkpoint and running.writer.failed is None and self.has_unsaved_changes():
            try:
                running.checkpointer.checkpoint()
            except (DolphinError, OSError) as exc:
                log.warning("checkpoint at shutdown skipped (the log keeps every acked batch): %s", exc)
        running.checkpointer.stop()
        running.writer.stop()
        self._running = None

    def _parts(self) -> _Running:
        if self._running is None:
            raise NotReadyError("stream ingest has not started")
        return self._running

    # -- what the server calls ---------------------------------------------------
    @property
    def engine(self) -> Engine:
        """Return the engine this ingestor writes to (once started)."""
        return self._parts().engine

    def submit(self, batch: MutationBatch) -> concurrent.futures.Future[Ack]:
        """Queue a batch; the future resolves with its Ack, or with the error that rejected it."""
        return self._parts().writer.submit(normalized(batch))

    def checkpoint(self) -> CheckpointResult:
        """Write the served state as a new version and drop the log it makes unnecessary."""
        return self._parts().checkpointer.checkpoint()

    def adopt(self, data: SnapshotData) -> None:
        """Serve a version a batch loader wrote, with the logged mutations after its cut time re-applied."""
        running = self._parts()
        adopt_version(running.writer, data, self.settings.keep_days)

    def has_unsaved_changes(self) -> bool:
        """True when batches were applied since the last version on disk that holds them."""
        running = self._running
        return running is not None and running.engine.ready and running.engine.snapshot().unsaved

    def offsets(self) -> dict[str, int]:
        """Return source -> highest applied offset."""
        engine = self._parts().engine
        return dict(engine.snapshot().stream.offsets) if engine.ready else {}

    @property
    def failed(self) -> BaseException | None:
        """The log failure that stopped ingest, if any."""
        return self._running.writer.failed if self._running else None

    @property
    def accepting(self) -> bool:
        """True while batches can be taken: the log is writable and the writer has not failed."""
        return not self.storage_full and self.failed is None

    @property
    def storage_full(self) -> bool:
        """True while the last log append hit ENOSPC/EFBIG."""
        return self._running is not None and self._running.writer.storage_full

    @property
    def stats(self) -> IngestStats:
        """Counters since start."""
        return self._running.writer.stats if self._running else IngestStats()

    @property
    def last_checkpoint(self) -> CheckpointResult | None:
        """The newest checkpoint written since start."""
        return self._running.checkpointer.last if self._running else None

    def status(self) -> StreamStatus:
        """Return the write side's state now."""
        running = self._running
        ready = running is not None and running.engine.ready
        stream = running.engine.snapshot().stream if running is not None and ready else None
        last = self.last_checkpoint
        return StreamStatus(
            fsync=str(self.settings.fsync), ready=ready, sequence=stream.sequence if stream else 0,
            wal_position=stream.wal_position if stream else 0, sources=len(stream.offsets) if stream else 0,
            storage_full=self.storage_full, stats=dataclasses.replace(self.stats), recovery=self.recovery,
            last_checkpoint_version=last.version if last else 0)


def open_stream(data_dir: str | os.PathLike[str], settings: IngestSettings | None = None, *,
                limits: EngineLimits | None = None, ops: FileOps | None = None,
                on_fatal: Callable[[BaseException], None] | None = None) -> Ingestor:
    """Return a started Ingestor over a new engine of data_dir (recovered and served); see `ingestor.engine`."""
    ingestor = Ingestor(data_dir, settings, ops=ops, on_fatal=on_fatal)
    ingestor.start(Engine(data_dir, limits=limits, load=False, adopter=ingestor))
    return ingestor
