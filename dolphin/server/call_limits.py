"""Per-call limits of the servicers: the engine deadline of a call, and the bound on concurrent expensive calls."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from typing import Any

import grpc

from dolphin.engine.memory import return_free_memory
from dolphin.errors import QueryLimitError


def call_deadline(context: grpc.aio.ServicerContext[Any, Any], default_seconds: float, max_seconds: float) -> float:
    """Return the engine's absolute deadline: the client's, else the default, never beyond the maximum."""
    remaining = context.time_remaining()
    budget = default_seconds if remaining is None else remaining
    return time.monotonic() + min(budget, max_seconds)


class ExpensiveCalls:
    """Bounds concurrent expensive calls per class; beyond the bound a call fails fast. When the last one ends,
    the heap they freed goes back to the OS (at most every TRIM_SECONDS, on a worker thread; the last call of a
    burst gets a trim TRIM_SECONDS after the one before): exports and profiles allocate tens of MB that glibc
    would otherwise keep (bench/memory.py: 856 -> 720 MB at 10M users with the start-up trim, and lower with
    this one; the trailing trim took RSS after every query type from 553 to 535 MB)."""

    TRIM_SECONDS = 1.0

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active: dict[str, int] = {}
        self._trimmed_at = 0.0
        self._trim: asyncio.Future[None] | None = None
        self._trailing: asyncio.TimerHandle | None = None

    @contextlib.contextmanager
    def slot(self, kind: str) -> Iterator[None]:
        """Hold one slot of a class for the duration of a call, or raise QueryLimitError when it is full."""
        active = self.active.get(kind, 0)
        if active >= self.limit:
            raise QueryLimitError(f"concurrent {kind} calls", active + 1, self.limit, "max_expensive_calls")
        self.active[kind] = active + 1
        try:
            yield
        finally:
            self.active[kind] -= 1
            self._trim_when_idle()

    def _trim_when_idle(self) -> None:
        if any(self.active.values()):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # not on an event loop (a test calling the servicer directly)
        running = self._trim is not None and not self._trim.done()
        wait = self._trimmed_at + self.TRIM_SECONDS - time.monotonic()
        if running or wait > 0:  # a trim after this call's frees is still due: later, once
            if self._trailing is None:
                self._trailing = loop.call_later(wait if wait > 0 else self.TRIM_SECONDS, self._trailing_trim)
            return
        self._trimmed_at = time.monotonic()
        self._trim = loop.run_in_executor(None, return_free_memory)

    def _trailing_trim(self) -> None:
        self._trailing = None
        self._trim_when_idle()


class Deadlines:
    """Mixin for servicers: the engine deadline of a call, from the client's deadline and the settings."""

    settings: Any

    def deadline(self, context: grpc.aio.ServicerContext[Any, Any]) -> float:
        """Return the absolute deadline to pass to the engine."""
        return call_deadline(context, self.settings.default_call_seconds, self.settings.max_call_seconds)
