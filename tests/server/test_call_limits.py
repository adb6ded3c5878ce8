"""After expensive calls the freed heap goes back to the OS: at once after the first of a burst, and once more
TRIM_SECONDS later for the calls that ended in between (so the last call of a burst is never left holding it)."""

from __future__ import annotations

import asyncio

import pytest

from dolphin.engine import memory
from dolphin.server import call_limits
from dolphin.server.call_limits import ExpensiveCalls


def test_the_last_call_of_a_burst_gets_a_trim(monkeypatch: pytest.MonkeyPatch) -> None:
    trims: list[float] = []

    def counted() -> None:  # the real trim, counted
        memory.return_free_memory()
        trims.append(0.0)

    monkeypatch.setattr(call_limits, "return_free_memory", counted)

    async def burst() -> None:
        calls = ExpensiveCalls(2)
        calls.TRIM_SECONDS = 0.2
        with calls.slot("Export"):
            pass
        await asyncio.sleep(0.05)
        assert len(trims) == 1  # the first call of the burst
        with calls.slot("Export"):
            with calls.slot("Profile"):
                pass
        await asyncio.sleep(0.05)
        assert len(trims) == 1  # within TRIM_SECONDS: none yet
        with calls.slot("Export"):
            await asyncio.sleep(0.3)  # the trailing trim comes due while a call is running: it waits for it
            assert len(trims) == 1
        await asyncio.sleep(0.05)
        assert len(trims) == 2  # the call's end trims
        with calls.slot("Export"):
            pass
        await asyncio.sleep(0.35)
        assert len(trims) == 3  # and the burst's last call gets its trailing trim

    asyncio.run(burst())
