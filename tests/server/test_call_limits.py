"""After expensive calls the freed heap goes back to the OS: at once after the first of a burst, and once more
TRIM_SECONDS later for the calls that ended in between (so the last call of a burst is never left holding it)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Callable

import pytest

from dolphin.engine import memory
from dolphin.server import call_limits
from dolphin.server.call_limits import ExpensiveCalls


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def test_the_last_call_of_a_burst_gets_a_trim(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[float] = []

    def counted() -> None:  # the real trim, counted when it starts (it can take a while in a large process)
        started.append(time.monotonic())
        memory.return_free_memory()

    monkeypatch.setattr(call_limits, "return_free_memory", counted)

    async def burst() -> None:
        calls = ExpensiveCalls(2)
        calls.TRIM_SECONDS = 0.5
        with calls.slot("Export"):
            pass
        await until(lambda: len(started) == 1)  # the first call of the burst trims at once
        with calls.slot("Export"), calls.slot("Profile"):
            pass
        await asyncio.sleep(0.05)
        assert len(started) == 1  # within TRIM_SECONDS of it: not yet
        with calls.slot("Export"):
            await asyncio.sleep(0.7)  # the trailing trim comes due while a call runs: it waits for the call
            assert len(started) == 1
        await until(lambda: len(started) == 2)  # the call's end trims
        with calls.slot("Export"):
            pass
        await asyncio.sleep(0.05)
        assert len(started) == 2
        await until(lambda: len(started) == 3)  # and the burst's last call gets its trailing trim
        assert started[2] - started[1] >= calls.TRIM_SECONDS - 0.01

    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # a loop of its own (the suite's browser runs one here)
        pool.submit(asyncio.run, burst()).result()
