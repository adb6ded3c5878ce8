"""Freeing what a publish replaced: exactly the old snapshot's bitmaps the new one dropped, in paused steps, by the
stream writer after its acks or by Engine.publish itself."""

from __future__ import annotations

import pathlib
import tempfile

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyroaring import AbstractBitMap, BitMap

from dolphin.engine import Engine
from dolphin.engine.release import RELEASE_STEP, release, replaced_bitmaps
from dolphin.engine.snapshot import Snapshot
from dolphin.stream.batches import Mutation, MutationOp
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


def test_publish_hands_the_replaced_bitmaps_to_defer_to(tmp_path: pathlib.Path) -> None:
    engine = base_engine(tmp_path)
    before = engine.snapshot()
    after = applied(before, [[Mutation("u1", MutationOp.SET, "city", "d"),
                              Mutation("u9", MutationOp.ADD, "hobby", "w")]])
    expected = held(before).keys() - held(after).keys()
    deferred: list[AbstractBitMap] = []
    engine.publish(after, "stream", deferred)
    assert engine.snapshot() is after
    assert expected and {id(bm) for bm in deferred} == expected


def tag_version(data: pathlib.Path, users: int, prefix: str) -> None:
    """Write a batch version: each user in a city of its own (`prefix` + number), so every tag is new."""
    from loaders.tags import load_tags

    source = data.parent / f"{prefix}.parquet"
    pl.DataFrame({"user_id": [f"u{i}" for i in range(users)],
                  "city": [f"{prefix}{i}" for i in range(users)]}).write_parquet(source)
    load_tags([str(source)], data, shard_bits=3)


def test_a_reload_frees_what_it_replaced_in_paused_steps(tmp_path: pathlib.Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    users = 3 * RELEASE_STEP + 5
    tag_version(tmp_path / "data", users, "old")
    engine = Engine(tmp_path / "data")
    old = held(engine.snapshot())  # keeps the old bitmaps alive, so their ids stay theirs
    tag_version(tmp_path / "data", users, "new")
    pauses: list[int] = []
    monkeypatch.setattr("dolphin.engine.engine.yield_gil", lambda: pauses.append(1))
    assert engine.reload().changed
    after = engine.snapshot()
    assert {value: len(bm) for value, bm in after.tags["city"].items()} == {f"new{i}": 1 for i in range(users)}
    assert len(pauses) == -(-len(old.keys() - held(after).keys()) // RELEASE_STEP) == 4  # users + population
