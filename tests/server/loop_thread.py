"""Running a coroutine from a test: on an event loop of its own, in another thread (the suite's main thread keeps
none)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any


def run_in_loop_thread(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine to its end on an event loop in another thread; return its result or raise its error."""
    out: list[Any] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            out.append(asyncio.run(coroutine))
        except BaseException as exc:  # noqa: BLE001 - raised again in the test's thread
            failed.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if failed:
        raise failed[0]
    return out[0]
