"""Vectorised copy-on-write batches against a Python model applied mutation by mutation; old snapshots never change."""

from __future__ import annotations

import pathlib
import tempfile

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from dolphin.engine import Engine
from dolphin.engine.snapshot import Snapshot, StreamState
from dolphin.stream.apply import apply_batches
from dolphin.stream.batches import Mutation, MutationBatch, MutationOp, StringCodes, check_batch
from tests.engine.model import Model

USERS = [f"u{i}" for i in range(12)]


def base_engine(root: pathlib.Path) -> Engine:
    from loaders.tags import load_tags

    pl.DataFrame({"user_id": USERS[:8], "city": ["a", "b", "a", None, "c", "b", "a", "c"],
                  "hobby": [["x"], ["x", "y"], [], None, ["z"], ["y"], ["x", "z"], []]}).write_parquet(root / "t.pq")
    load_tags([str(root / "t.pq")], root / "data", shard_bits=3)
    return Engine(root / "data")


def model_of(snap: Snapshot) -> Model:
    decode = lambda bm: set(snap.ids.decode(np.frombuffer(bm.to_array(), dtype=np.uint32)))  # noqa: E731
    return Model(decode(snap.population),
                 {d: {v: decode(bm) for v, bm in vs.items() if bm} for d, vs in snap.tags.items()},
                 {(c, e, day): decode(bm) for (c, e), days in snap.data.events.items() for day, bm in days.items()})


def with_codes(batch: MutationBatch) -> MutationBatch:
    """Return the batch as a columnar message decodes it: with its string table and each row's indexes."""
    table = list(dict.fromkeys(["", *batch.dimensions, *batch.values]))
    index = {text: i for i, text in enumerate(table)}
    batch.codes = StringCodes(table, np.array([index[d] for d in batch.dimensions], dtype=np.int64),
                              np.array([index[v] for v in batch.values], dtype=np.int64))
    return batch


def applied(snap: Snapshot, batches: list[list[Mutation]], keep_days: int = 0, coded: bool = False) -> Snapshot:
    columnar = [MutationBatch.of("s", i, b) for i, b in enumerate(batches)]
    if coded:
        columnar = [with_codes(b) for b in columnar]
    kinds = dict(snap.kinds)
    for batch in columnar:
        kinds = check_batch(batch, kinds, 1000)
    return apply_batches(snap, columnar, kinds, StreamState(sequence=1), keep_days)


def applied_like_one_by_one(before: Snapshot, batches: list[list[Mutation]], coded: bool = False
                            ) -> tuple[Snapshot, Model]:
    """Return the batches applied grouped, and the model applied mutation by mutation, checked equal."""
    model = model_of(before)
    for batch in batches:
        for m in batch:
            model.apply(m)
    after = applied(before, batches, coded=coded)
    assert model_of(after) == model.cleaned()
    return after, model


MUTATIONS = st.one_of(
    st.builds(Mutation, st.sampled_from(USERS), st.just(MutationOp.SET), st.just("city"), st.sampled_from("abcd")),
    st.builds(Mutation, st.sampled_from(USERS), st.sampled_from([MutationOp.ADD, MutationOp.REMOVE]),
              st.just("hobby"), st.sampled_from("xyzw")),
    st.builds(Mutation, st.sampled_from(USERS), st.just(MutationOp.DELETE_USER)),
)
DAYS = [f"2026-01-{d:02d}" for d in range(1, 8)]
EVENTS = st.builds(Mutation.event, st.sampled_from(USERS), st.sampled_from(["c1", "city"]),
                   st.sampled_from(["click", "a"]), st.sampled_from(DAYS))


@settings(max_examples=80, deadline=None)
@given(st.lists(st.lists(MUTATIONS, max_size=15), min_size=1, max_size=4), st.booleans())
def test_grouped_apply_equals_one_by_one(batches: list[list[Mutation]], coded: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        engine = base_engine(pathlib.Path(tmp))
        before = engine.snapshot()
        frozen_before = model_of(before)
        after, model = applied_like_one_by_one(before, batches, coded)
        assert model_of(before) == frozen_before  # the old snapshot was never touched
        engine.publish(after, "test")
        assert engine.count("ALL").count == len(model.population)
        for value in "abcd":
            assert engine.count(f"city={value}").count == len(model.tags.get("city", {}).get(value, set()))


def test_untouched_tags_are_shared_and_new_dimensions_get_a_kind(tmp_path: pathlib.Path) -> None:
    snap = base_engine(tmp_path).snapshot()
    after = applied(snap, [[Mutation("u1", MutationOp.SET, "tier", "gold"), Mutation("u2", MutationOp.ADD,
                                                                                     "hobby", "x")]])
    assert after.tags["city"]["a"] is snap.tags["city"]["a"]
    assert after.tags["hobby"]["y"] is snap.tags["hobby"]["y"]
    assert after.kinds["tier"].value == "single" and set(after.stream.dirty) == {("tier", "gold"), ("hobby", "x")}


def test_delete_user_also_leaves_events(tmp_path: pathlib.Path) -> None:
    from loaders.events import load_events

    engine = base_engine(tmp_path)
    pl.DataFrame({"user_id": ["u1", "u2"], "campaign": ["c", "c"], "event": ["click", "click"],
                  "date": ["2026-01-01", "2026-01-01"]}).write_parquet(tmp_path / "e.pq")
    load_events([str(tmp_path / "e.pq")], tmp_path / "data")
    engine.reload()
    after = applied(engine.snapshot(), [[Mutation("u1", MutationOp.DELETE_USER)]])
    engine.publish(after, "test")
    assert engine.count("event(click, campaign=c, from=2026-01-01, to=2026-01-01)").count == 1
    assert set(after.stream.dirty_events) == {("c", "click", "2026-01-01")}


@settings(max_examples=80, deadline=None)
@given(st.lists(st.lists(st.one_of(MUTATIONS, EVENTS), max_size=15), min_size=1, max_size=4), st.booleans())
def test_events_apply_like_one_by_one_and_delete_user_takes_them_away(batches: list[list[Mutation]],
                                                                       coded: bool) -> None:
    """Campaign and event names may equal dimension names and values ("city", "a"): they never mix."""
    with tempfile.TemporaryDirectory() as tmp:
        engine = base_engine(pathlib.Path(tmp))
        before = engine.snapshot()
        after, model = applied_like_one_by_one(before, batches, coded)
        assert not before.data.events  # the old snapshot was never touched
        engine.publish(after, "test")
        for day in DAYS[::3]:
            want = {u for (c, e, d), users in model.events.items() if e == "click" and d <= day for u in users}
            if "click" in after.events.event_names:
                assert engine.count(f"event(click, from=2026-01-01, to={day})").count == len(want)
            else:
                assert not want


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(EVENTS, max_size=12), min_size=1, max_size=5), st.integers(1, 4), st.booleans())
def test_the_keep_days_window_drops_old_events_and_removes_old_days(batches: list[list[Mutation]],
                                                                    keep_days: int, one_group: bool) -> None:
    """Grouped into one apply or applied one by one (as a replay may group them), the result is the same."""
    with tempfile.TemporaryDirectory() as tmp:
        snap = base_engine(pathlib.Path(tmp)).snapshot()
        model = model_of(snap)
        model.keep_days = keep_days
        for batch in batches:
            model.apply_batch(batch)
        if one_group:
            snap = applied(snap, batches, keep_days)
        else:
            for batch in batches:
                snap = applied(snap, [batch], keep_days)
        assert model_of(snap) == model.cleaned()
        newest = max((d for _, _, d in model.events), default="")
        assert snap.events.newest_day == newest


def test_the_event_index_keeps_cached_unions_of_untouched_events_only(tmp_path: pathlib.Path) -> None:
    snap = base_engine(tmp_path).snapshot()
    snap = applied(snap, [[Mutation.event("u1", "c1", "click", "2026-01-01"),
                           Mutation.event("u2", "c2", "view", "2026-01-01")]])
    click = snap.events.reach("c1", "click", "2026-01-01", "2026-01-07")
    view = snap.events.reach("c2", "view", "2026-01-01", "2026-01-07")
    any_click = snap.events.reach(None, "click", "2026-01-01", "2026-01-07")
    later = applied(snap, [[Mutation.event("u3", "c1", "click", "2026-01-02")]])
    assert later.events.reach("c2", "view", "2026-01-01", "2026-01-07") is view  # kept
    assert len(later.events.reach("c1", "click", "2026-01-01", "2026-01-07")) == 2  # not the stale union
    assert len(later.events.reach(None, "click", "2026-01-01", "2026-01-07")) == 2
    assert len(click) == len(any_click) == 1  # the old snapshot still answers as before
    assert later.events.campaigns["c1"]["click"] == ["2026-01-01", "2026-01-02"]
