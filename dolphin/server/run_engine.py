"""The only place the server hops from the event loop to a worker thread to call the engine."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
from collections.abc import Callable
from typing import Any, TypeVar

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
