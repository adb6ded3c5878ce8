"""The only place the server hops from the event loop to a worker thread to call the engine."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import grpc

from dolphin.errors import QueryLimitError

R = TypeVar("R")

# pyroaring holds the GIL, so more threads add no CPU; a few let a slow call not queue the fast ones.
_EXECUTOR = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="dolphin-engine")


def run_inline(fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
    """Run a cheap engine call on the event loop.

    A count takes 0.05-0.5 ms at 10M users, less than the thread hop (measured: p50 0.83 -> 0.71 ms end to
    end, q2 throughput 1026 -> 1153/s); limits and the deadline bound the worst case.
    """
    return fn(*args, **kwargs)


async def run_engine(fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
    """Run an engine call in the worker pool and await its result."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_EXECUTOR, functools.partial(fn, *args, **kwargs))


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
