"""Writing a served state as a version: incremental or full by the overlay ratio, read back equal, and the log
position the retained versions still need."""

from __future__ import annotations

import dataclasses
import pathlib

import polars as pl
import pytest

from dolphin.engine import Engine
from dolphin.engine.snapshot import Snapshot
from dolphin.storage import MarkKind, layout, open_snapshot
from dolphin.stream.batches import Mutation, MutationOp
from dolphin.stream.checkpoint import needed_log_position, write_checkpoint
from loaders.tags import load_tags
from tests.stream.test_apply import applied, model_of

USERS = [f"u{i}" for i in range(400)]


@pytest.fixture
def base(tmp_path: pathlib.Path) -> Snapshot:
    pl.DataFrame({"user_id": USERS, "city": [f"c{i % 40}" for i in range(400)],
                  "hobby": [[f"h{i % 7}", f"h{i % 11}"] for i in range(400)]}).write_parquet(tmp_path / "t.pq")
    load_tags([str(tmp_path / "t.pq")], tmp_path / "data", shard_bits=6)
    return Engine(tmp_path / "data").snapshot()


def data_dir_of(snap: Snapshot) -> pathlib.Path:
    assert snap.data.path is not None
    return snap.data.path.parent.parent


def reopened(snap: Snapshot, version: int) -> Snapshot:
    return Snapshot(open_snapshot(layout.versions_dir(data_dir_of(snap)) / layout.version_name(version)))


def changed(snap: Snapshot, offset: int = 0) -> Snapshot:
    after = applied(snap, [[Mutation("u1", MutationOp.SET, "city", "moved"),
                            Mutation("u2", MutationOp.REMOVE, "hobby", "h2"),
                            Mutation("new", MutationOp.ADD, "hobby", "h0")]])
    return after.with_stream(dataclasses.replace(after.stream, offsets={"s": offset}), after.data, set())


@pytest.mark.parametrize("ratio, incremental", [(0.25, True), (0.0, False)])
def test_a_checkpoint_reads_back_as_the_state_it_was_written_from(base: Snapshot, ratio: float, incremental: bool
                                                                  ) -> None:
    state = changed(base, offset=7)
    version, was_incremental, tags = write_checkpoint(data_dir_of(base), state, 1234, ratio)
    assert (was_incremental, tags) == (incremental, len(state.stream.dirty)) and tags == 4
    back = reopened(base, version)
    assert model_of(back) == model_of(state)
    assert back.data.manifest.stream.kind is MarkKind.CHECKPOINT
    assert back.data.manifest.stream.wal_position == 1234 and dict(back.data.manifest.stream.offsets) == {"s": 7}
    assert (back.data.manifest.overlay is not None) == incremental


def test_a_chain_of_incremental_checkpoints_keeps_every_link(base: Snapshot) -> None:
    first = changed(base)
    v1, inc1, _ = write_checkpoint(data_dir_of(base), first, 10, 0.25)
    served = first.with_stream(dataclasses.replace(first.stream, dirty={}), reopened(base, v1).data, set())
    second = applied(served, [[Mutation("u3", MutationOp.SET, "city", "later")]])
    v2, inc2, tags = write_checkpoint(data_dir_of(base), second, 20, 0.25)
    assert inc1 and inc2 and tags == 2  # only what changed since v1 (c3, later), yet v2 holds v1's too
    assert model_of(reopened(base, v2)) == model_of(second)


def test_streamed_event_days_go_into_the_overlay_and_a_chain_keeps_them(base: Snapshot, tmp_path: pathlib.Path
                                                                        ) -> None:
    from loaders.events import load_events

    data = data_dir_of(base)
    pl.DataFrame({"user_id": USERS[:50], "campaign": "c", "event": "view", "date": "2026-01-01"}).write_parquet(
        tmp_path / "e.pq")
    load_events([str(tmp_path / "e.pq")], data, shard_bits=6)
    loaded = Engine(data).snapshot()
    first = applied(loaded, [[Mutation.event("u1", "c", "click", "2026-01-02"),
                              Mutation.event("new", "d", "view", "2026-01-02"),
                              Mutation("u7", MutationOp.DELETE_USER)]])
    v1, inc1, _ = write_checkpoint(data, first, 10, 0.25)
    back = reopened(loaded, v1)
    assert inc1 and model_of(back) == model_of(first)
    assert {(e.campaign, e.event, e.day) for e in back.data.manifest.overlay_events} == {
        ("c", "click", "2026-01-02"), ("d", "view", "2026-01-02"), ("c", "view", "2026-01-01")}
    served = first.with_stream(dataclasses.replace(first.stream, dirty={}, dirty_events={}), back.data, set())
    second = applied(served, [[Mutation.event("u2", "c", "click", "2026-01-03")]], keep_days=2)  # drops 01-01
    v2, inc2, _ = write_checkpoint(data, second, 20, 0.25)
    again = reopened(loaded, v2)
    assert inc2 and model_of(again) == model_of(second)
    assert ("c", "view") not in again.data.events and again.events.newest_day == "2026-01-03"
    full, incremental, _ = write_checkpoint(data, second, 20, 0.0)
    assert not incremental and model_of(reopened(loaded, full)) == model_of(second)


def test_the_needed_log_position_is_the_oldest_checkpoint_s_unless_a_batch_version_is_kept(base: Snapshot) -> None:
    data = data_dir_of(base)
    write_checkpoint(data, changed(base), 300, 0.25)
    write_checkpoint(data, changed(base), 500, 0.25)
    assert needed_log_position(data, 900) == 0  # the loaded version replays by cut time: keep the log
    (layout.versions_dir(data) / layout.version_name(base.version) / layout.MANIFEST).unlink()  # unreadable
    assert needed_log_position(data, 900) == 300
    assert needed_log_position(data, 100) == 100
