"""Freeing what a publish replaced: exactly the old snapshot's bitmaps the new one dropped, in paused steps."""

from __future__ import annotations

import pathlib
import tempfile

from hypothesis import given, settings
from hypothesis import strategies as st
from pyroaring import AbstractBitMap, BitMap

from dolphin.engine.snapshot import Snapshot
from dolphin.stream.batches import Mutation
from dolphin.stream.release import RELEASE_STEP, release, replaced_bitmaps
from tests.stream.test_apply import EVENTS, MUTATIONS, applied, base_engine, model_of


def held(snap: Snapshot) -> dict[int, AbstractBitMap]:
    """Return every tag, event and population bitmap a snapshot holds, by identity."""
    out = {id(bm): bm for values in snap.tags.values() for bm in values.values()}
    out.update({id(bm): bm for days in snap.data.events.values() for bm in days.values()})
    out[id(snap.population)] = snap.population
    return out


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.one_of(MUTATIONS, EVENTS), max_size=15), min_size=1, max_size=3))
def test_replaced_bitmaps_are_the_old_ones_the_new_snapshot_dropped(batches: list[list[Mutation]]) -> None:
    with tempfile.TemporaryDirectory() as root:
        before = base_engine(pathlib.Path(root)).snapshot()
        after = applied(before, batches)
        expected = held(before).keys() - held(after).keys()
        replaced = replaced_bitmaps(before, after)
        assert {id(bm) for bm in replaced} == expected
        model = model_of(after)
        pauses: list[int] = []
        release(replaced, lambda: pauses.append(len(replaced)))
        assert replaced == []
        assert len(pauses) == -(-len(expected) // RELEASE_STEP)  # one pause per step begun
        assert model_of(after) == model  # the new snapshot's bitmaps are untouched


def test_release_pauses_between_steps() -> None:
    bitmaps: list[AbstractBitMap] = [BitMap([i]) for i in range(2 * RELEASE_STEP + 1)]
    left: list[int] = []
    release(bitmaps, lambda: left.append(len(bitmaps)))
    assert left == [RELEASE_STEP + 1, 1, 0]
