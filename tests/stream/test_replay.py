"""What recovery replays: the replay rule of each stream mark against a hand-written oracle, and replay_records
against the mutation-by-mutation model."""

from __future__ import annotations

import dataclasses

from hypothesis import given
from hypothesis import strategies as st

from dolphin.engine.snapshot import empty_snapshot
from dolphin.storage import DimensionKind, LogPoint, Manifest, MarkKind, StreamMark
from dolphin.storage.wal import Record
from dolphin.stream.batches import Mutation, MutationBatch, MutationOp, encode_record
from dolphin.stream.replay import REPLAY_CHUNK, replay_records, replay_rule
from tests.engine.model import Model
from tests.stream.test_apply import model_of

DIMS = ["city", "hobby", "tier"]
MUTATION = st.one_of(
    st.builds(Mutation, st.sampled_from(["u1", "u2", "u3"]), st.just(MutationOp.SET), st.sampled_from(["city", "tier"]),
              st.sampled_from("ab")),
    st.builds(Mutation, st.sampled_from(["u1", "u2", "u3"]), st.sampled_from([MutationOp.ADD, MutationOp.REMOVE]),
              st.just("hobby"), st.sampled_from("xy")),
    st.builds(Mutation, st.sampled_from(["u1", "u2", "u3"]), st.just(MutationOp.DELETE_USER)),
    st.builds(Mutation.event, st.sampled_from(["u1", "u2", "u3"]), st.sampled_from(["city", "c1"]),
              st.sampled_from(["view", "a"]), st.sampled_from(["2026-01-01", "2026-01-02", "2026-01-03"])),
)
LOGGED = st.lists(st.tuples(st.floats(0, 100), st.lists(MUTATION, min_size=1, max_size=6)), max_size=12)
MARKS = st.one_of(
    st.just(StreamMark()),
    st.builds(StreamMark.checkpoint, st.integers(0, 1500), st.just({})),
    st.builds(lambda cut, replaced, carried, days: StreamMark(MarkKind.BATCH, cut_time=cut, replaced=tuple(replaced),
                                                              carried_from=carried, replaced_days=days),
              st.floats(0, 100), st.lists(st.sampled_from(DIMS), unique=True),
              st.one_of(st.just(LogPoint()), st.builds(LogPoint, st.integers(0, 1500)),
                        st.builds(LogPoint, st.none(), st.floats(0, 100))),
              st.one_of(st.none(), st.just(("2026-01-02", "2026-01-02")), st.just(("2026-01-01", "2026-01-02")))),
)


def manifest_with(mark: StreamMark, built_at: float = 50.0) -> Manifest:
    return Manifest(version=1, built_at=built_at, shard_bits=3, shards=0, users=0, id_count=0, id_type="string",
                    dimensions={d: DimensionKind.SINGLE for d in DIMS}, tags=[], files={}, stream=mark)


def records_of(logged: list[tuple[float, list[Mutation]]]) -> list[tuple[Record, MutationBatch]]:
    out, position = [], 0
    for i, (appended_at, mutations) in enumerate(logged):
        batch = dataclasses.replace(MutationBatch.of("s", i, mutations), appended_at=appended_at)
        record = Record(position, encode_record(batch))
        out.append((record, batch))
        position = record.end
    return out


def dimensions_with_users(model: Model) -> Model:
    """A REMOVE before any ADD leaves the model an empty dimension the engine never creates: compare without."""
    return Model(model.population, {d: vs for d, vs in model.tags.items() if vs}, model.events)


def oracle(mark: StreamMark, built_at: float, record: Record, batch: MutationBatch) -> list[Mutation]:
    """The mutations of a record a version with this mark lacks, decided one mutation at a time."""
    every = batch.mutations()
    if mark.kind is MarkKind.CHECKPOINT:
        return every if record.position >= mark.wal_position else []
    if mark.kind is MarkKind.NONE:
        return every if batch.appended_at > built_at else []
    if batch.appended_at > mark.cut_time:
        return every
    point = mark.carried_from
    fresh = (record.position >= point.wal_position if point.wal_position is not None
             else batch.appended_at > point.cut_time if point.cut_time is not None else True)
    first, last = mark.replaced_days or ("9", "0")  # no day is in an empty range

    def lacks(m: Mutation) -> bool:
        if m.op is MutationOp.ADD_EVENT:  # an event's campaign is no dimension, even when it has one's name
            return not first <= m.date <= last
        return m.op is MutationOp.DELETE_USER or m.dimension not in mark.replaced

    return [m for m in every if fresh and lacks(m)]


@given(MARKS, LOGGED)
def test_the_rule_keeps_exactly_what_the_version_lacks(mark: StreamMark, logged: list[tuple[float, list[Mutation]]]
                                                       ) -> None:
    rule = replay_rule(manifest_with(mark))
    for record, batch in records_of(logged):
        kept = rule(record, batch)
        assert (kept.mutations() if kept is not None else []) == oracle(mark, 50.0, record, batch)


@given(st.lists(st.lists(MUTATION, min_size=1, max_size=5), max_size=2 * REPLAY_CHUNK + 5))
def test_replay_records_applies_the_log_in_order(batches: list[list[Mutation]]) -> None:
    logged = [(10.0, b) for b in batches]
    pairs = records_of(logged)
    end = pairs[-1][0].end if pairs else 0
    base = empty_snapshot(0)
    replayed = replay_records(base, [r for r, _ in pairs], base.data.manifest, end)
    want = Model()  # SET only on single-valued, ADD/REMOVE only on multi-valued dimensions: every batch applies
    for batch in batches:
        for m in batch:
            want.apply(m)
    assert replayed.records == len(batches)
    assert dimensions_with_users(model_of(replayed.snapshot)) == dimensions_with_users(want.cleaned())
    assert replayed.snapshot.stream.wal_position == end
    assert dict(replayed.snapshot.stream.offsets) == ({"s": len(batches) - 1} if batches else {})


def test_a_version_already_holding_the_log_replays_nothing() -> None:
    pairs = records_of([(10.0, [Mutation("u1", MutationOp.SET, "city", "a")])])
    base = empty_snapshot(0)
    manifest = dataclasses.replace(base.data.manifest, stream=StreamMark.checkpoint(pairs[-1][0].end, {"s": 0}))
    replayed = replay_records(base, [r for r, _ in pairs], manifest, pairs[-1][0].end)
    assert replayed.records == 0 and len(replayed.snapshot.population) == 0
    assert dict(replayed.snapshot.stream.offsets) == {"s": 0}
