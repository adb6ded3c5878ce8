"""Freeing what a publish replaced, one bitmap at a time, so the GIL can change hands in between.

When the last reference to a replaced snapshot goes, CPython frees every bitmap that snapshot alone held in one
chain of deallocations, with no bytecode boundary in it, and a query that wants the GIL meanwhile waits for all of
it. At 10M users, a stream group that touches the 700 values of bench/stream.py's city and interest frees about
100,000 containers and held the GIL for 8-19 ms (`python bench/apply.py`: GIL lateness max 11-19 ms, 3.7-7.5 ms
when freed this way); a reload, which replaces all 1,037 tags, held it for about 20 ms. Kept in a list and popped
one by one, each bitmap is a separate short call, so the switch interval and the pauses apply between them.
`Engine.publish` frees this way; the stream writer has it hand the list over and frees it after its acks.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from pyroaring import AbstractBitMap

from dolphin.engine.snapshot import Snapshot

RELEASE_STEP = 64  # bitmaps freed between two pauses


def replaced_bitmaps(old: Snapshot, new: Snapshot) -> list[AbstractBitMap]:
    """Return the tag and event bitmaps of old that new no longer holds (compared by identity, not value)."""
    out: list[AbstractBitMap] = []
    for dimension, values in old.tags.items():
        kept = new.tags.get(dimension, {})
        if kept is values:
            continue
        out.extend(bm for value, bm in values.items() if kept.get(value) is not bm)
    for key, days in old.data.events.items():
        kept_days = new.data.events.get(key, {})
        if kept_days is not days:
            out.extend(bm for day, bm in days.items() if kept_days.get(day) is not bm)
    if old.population is not new.population:
        out.append(old.population)
    return out


def yield_gil() -> None:
    """Let any thread that waits for the GIL have it (a pause for work that has no reads-first turn)."""
    time.sleep(0)


def release(bitmaps: list[AbstractBitMap], pause: Callable[[], None]) -> None:
    """Drop the list's references one at a time (the list is emptied), pausing every RELEASE_STEP."""
    while bitmaps:
        for _ in range(min(RELEASE_STEP, len(bitmaps))):
            bitmaps.pop()
        pause()
