"""Per-call limits of the servicers: the engine deadline of a call, and the bound on concurrent expensive calls."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import grpc

from dolphin.errors import QueryLimitError


def call_deadline(context: grpc.aio.ServicerContext[Any, Any], default_seconds: float, max_seconds: float) -> float:
    """Return the engine's absolute deadline: the client's, else the default, never beyond the maximum."""
    remaining = context.time_remaining()
    budget = default_seconds if remaining is None else remaining
    return time.monotonic() + min(budget, max_seconds)


class ExpensiveCalls:
    """Bounds concurrent expensive calls per class; beyond the bound a call fails fast."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active: dict[str, int] = {}

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


class Deadlines:
    """Mixin for servicers: the engine deadline of a call, from the client's deadline and the settings."""

    settings: Any

    def deadline(self, context: grpc.aio.ServicerContext[Any, Any]) -> float:
        """Return the absolute deadline to pass to the engine."""
        return call_deadline(context, self.settings.default_call_seconds, self.settings.max_call_seconds)
