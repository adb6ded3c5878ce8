"""Reads first: the stream writer steps aside while reads are in flight, within a share of its own time.

A query and the writer thread share one GIL. When the writer wants the GIL back, CPython takes it from the query
after the switch interval, and the query then waits for whatever the writer does next (a bitmap union over a tag,
a sort) before it runs again; a 5-term count asks for the GIL several times on its way through the server. So
the server marks its read calls (`reading`), and the writer, at the step boundaries of applying a group
(`WriterTurn.pause`), waits while any is in flight. Measured in-process at 10M users, a q2 count every 5 ms
while ingesting 224k mutations/s: p50 +1.05/+1.17 ms over idle without this, +0.37/+0.40 ms with it, and the
same ingest rate (the writer waited 0.4 s in 11 s).

The writer never waits for more than its share: within one group, its pauses add up to at most `share / (1 -
share)` of the time it worked (with the default 0.5, as long as it worked), and one wait to at most `max_wait`.
So reads that never stop (a dashboard in a loop, a long export) slow ingest by that factor, never stop it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field


class ReadPriority:
    """Read calls in flight, counted by `reading`; the writer's turns wait for none to be."""

    def __init__(self, share: float = 0.5, max_wait: float = 0.02) -> None:
        if not 0 <= share < 1:
            raise ValueError(f"share must be in [0, 1), got {share}")
        self.share = share
        self.max_wait = max_wait
        self.paused_seconds = 0.0  # the writer's waits so far, for status and tests
        self._readers = 0
        self._idle = threading.Condition(threading.Lock())

    @property
    def busy(self) -> bool:
        """True while a read is in flight."""
        return self._readers > 0

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """Mark a read in flight for the duration of the block."""
        with self._idle:
            self._readers += 1
        try:
            yield
        finally:
            with self._idle:
                self._readers -= 1
                if not self._readers:
                    self._idle.notify_all()

    def turn(self) -> WriterTurn:
        """Return the writer's turn for one group of work, starting now."""
        return WriterTurn(self, time.monotonic())

    def wait_idle(self, limit: float) -> float:
        """Wait until no read is in flight, at most limit seconds; return the seconds waited."""
        started = time.monotonic()
        with self._idle:
            self._idle.wait_for(lambda: not self._readers, timeout=limit)
        waited = time.monotonic() - started
        self.paused_seconds += waited
        return waited


@dataclass(slots=True)
class WriterTurn:
    """One group's work on the writer thread; `pause` at each step boundary."""

    priority: ReadPriority
    started: float
    paused: float = field(default=0.0)

    def pause(self) -> None:
        """Wait while reads are in flight, if this turn's pauses are still within the writer's share."""
        if not self.priority.busy:
            return
        worked = time.monotonic() - self.started - self.paused
        share = self.priority.share
        allowed = worked * share / (1 - share) - self.paused
        if allowed > 0:
            self.paused += self.priority.wait_idle(min(allowed, self.priority.max_wait))


def no_pause() -> None:
    """The pause of work that no read waits for (recovery replays the log before anything is served)."""
