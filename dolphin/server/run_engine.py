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


async def run_engine(fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
    """Run an engine call in the worker pool and await its result."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_EXECUTOR, functools.partial(fn, *args, **kwargs))
