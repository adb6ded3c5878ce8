"""The narrow part of the writer thread that recovery, adoption and checkpoints use.

Everything that changes the served state runs on the one writer thread, so that a batch is never applied to a
state that something else is replacing. Those parts get this interface, not the group-commit loop itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from dolphin.engine.snapshot import Snapshot
from dolphin.storage.wal import Record

T = TypeVar("T")


class WriterThread(Protocol):
    """Runs work between groups of batches; the other methods are for use inside that work."""

    def call(self, run: Callable[[], T]) -> T:
        """Run `run` on the writer thread between two groups; return its result or raise its error."""
        ...

    def current(self) -> Snapshot:
        """Return the served state (an empty one before the first snapshot)."""
        ...

    def publish(self, snap: Snapshot, reason: str) -> None:
        """Serve snap (inside call)."""
        ...

    def rotate_log(self) -> int:
        """Fsync and start a new log segment (inside call); return its first position."""
        ...

    def logged_records(self) -> list[Record]:
        """Return every record in the retained log (inside call, so none is being appended)."""
        ...
