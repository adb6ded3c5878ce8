"""Freeing what a publish replaced, one bitmap at a time, so the GIL can change hands in between.

When the writer drops the last reference to the snapshot it replaced, CPython frees every bitmap that snapshot
alone held in one chain of deallocations, with no bytecode boundary in it: at 10M users, a group that touches
the 700 values of bench/stream.py's city and interest frees about 100,000 containers and held the GIL for 8-19
ms (`python bench/apply.py`: GIL lateness max 11-19 ms, 3.7-7.5 ms when freed this way). A query that wants the GIL
meanwhile waits for all of it. Kept in a list and popped one by one, each bitmap is a separate short call, so the
switch interval and the reads-first pauses apply between them.
"""

from __future__ import annotations

from collections.abc import Callable

from pyroaring import AbstractBitMap

from dolphin.engine.snapshot import Snapshot

RELEASE_STEP = 64  # bitmaps freed between two reads-first pauses


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


def release(bitmaps: list[AbstractBitMap], pause: Callable[[], None]) -> None:
    """Drop the list's references one at a time (the list is emptied), pausing every RELEASE_STEP."""
    while bitmaps:
        for _ in range(min(RELEASE_STEP, len(bitmaps))):
            bitmaps.pop()
        pause()
