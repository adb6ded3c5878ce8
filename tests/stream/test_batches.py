"""Batch validation (every bad field named with its mutation index) and the log record codec."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dolphin.errors import InvalidArgumentError, QueryLimitError
from dolphin.storage import DimensionKind
from dolphin.stream.batches import (
    Mutation,
    MutationBatch,
    MutationOp,
    check_batch,
    decode_record,
    encode_record,
)

KINDS = {"city": DimensionKind.SINGLE, "hobby": DimensionKind.MULTI}
GOOD = Mutation("u9", MutationOp.ADD, "hobby", "new")


def batch_with(bad: Mutation, source: str = "k/1") -> MutationBatch:
    return MutationBatch.of(source, 7, [GOOD, bad])


@pytest.mark.parametrize(("mutation", "message"), [
    (Mutation("u1", MutationOp.SET, "hobby", "x"), 'mutation 1: op set on multi-valued dimension "hobby"; use add'),
    (Mutation("u1", MutationOp.ADD, "city", "a"), 'mutation 1: op add on single-valued dimension "city"; use set'),
    (Mutation("u1", MutationOp.REMOVE, "city", "a"), "mutation 1: op remove on single-valued"),
    (Mutation("", MutationOp.ADD, "hobby", "x"), "mutation 1: user_id is empty"),
    (Mutation("u1", MutationOp.ADD, "", "x"), "mutation 1: dimension is empty"),
    (Mutation("u1", MutationOp.ADD, "hobby", "x" * 2000), "mutation 1: value is over 1024 characters"),
    (Mutation("u" * 1025, MutationOp.ADD, "hobby", "x"), "mutation 1: user_id is over 1024"),
    (Mutation("u1", MutationOp.ADD, "d" * 1025, "x"), "mutation 1: dimension is over 1024"),
    (Mutation("u\0", MutationOp.ADD, "hobby", "x"), "mutation 1: user_id .* NUL"),
    (Mutation("u1", MutationOp.ADD, "hobby", "a\0b"), "mutation 1: value .* NUL"),
    (Mutation.event("u1", "", "click", "2026-01-01"), "mutation 1: campaign is empty"),
    (Mutation.event("u1", "c", "", "2026-01-01"), "mutation 1: event is empty"),
    (Mutation.event("u1", "c" * 1025, "click", "2026-01-01"), "mutation 1: campaign is over 1024"),
    (Mutation.event("u1", "c", "click", ""), "mutation 1: date is empty"),
    (Mutation.event("u1", "c", "click", "2026-02-30"), 'mutation 1: date "2026-02-30" is not an ISO date'),
    (Mutation.event("u1", "c", "click", "20260101"), 'mutation 1: date "20260101" is not an ISO date'),
    (Mutation.event("u1", "c", "click", "2999-01-01"), 'mutation 1: date "2999-01-01" is in the future'),
])
def test_bad_mutations_are_named(mutation: Mutation, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=f"batch k/1@7: {message}"):
        check_batch(batch_with(mutation), KINDS, 100)


@pytest.mark.parametrize(("op", "message"), [(0, "is MUTATION_OP_UNSPECIFIED"), (99, "99 is not a known operation")])
def test_unknown_ops(op: int, message: str) -> None:
    batch = batch_with(GOOD)
    batch.ops = np.array([1, op], dtype=np.int64)
    with pytest.raises(InvalidArgumentError, match=f"mutation 1: op {message}"):
        check_batch(batch, KINDS, 100)


def test_batch_level_errors() -> None:
    with pytest.raises(InvalidArgumentError, match="source is empty"):
        check_batch(batch_with(GOOD, source=""), KINDS, 100)
    with pytest.raises(InvalidArgumentError, match="offset -1 is negative"):
        check_batch(MutationBatch.of("s", -1, [GOOD]), KINDS, 100)
    with pytest.raises(InvalidArgumentError, match="first_offset 9 is after offset"):
        check_batch(MutationBatch.of("s", 7, [GOOD], first_offset=9), KINDS, 100)
    with pytest.raises(QueryLimitError, match="batch mutation count is 3; the limit is 2 .--max-batch-mutations"):
        check_batch(MutationBatch.of("s", 7, [GOOD] * 3), KINDS, 2)


def test_kinds_are_returned_not_changed_in_place() -> None:
    kinds = dict(KINDS)
    after = check_batch(MutationBatch.of("s", 1, [Mutation("u", MutationOp.SET, "tier", "1"),
                                                  Mutation("u", MutationOp.ADD, "tag", "1")]), kinds, 10)
    assert kinds == KINDS and after["tier"] is DimensionKind.SINGLE and after["tag"] is DimensionKind.MULTI
    with pytest.raises(InvalidArgumentError, match='mutation 1: op add on single-valued dimension "tier"'):
        check_batch(MutationBatch.of("s", 1, [Mutation("u", MutationOp.SET, "tier", "1"),
                                              Mutation("u", MutationOp.ADD, "tier", "1")]), kinds, 10)


TEXT = st.text(st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)), max_size=20)


def test_events_take_no_dimension_kind_and_may_share_a_dimension_s_name() -> None:
    kinds = check_batch(MutationBatch.of("s", 1, [Mutation.event("u", "city", "hobby", "2026-01-01"),
                                                  Mutation.event("u", "fresh", "x", "2026-01-01")]), KINDS, 10)
    assert kinds == KINDS


def test_event_records_are_format_2_and_tag_records_stay_format_1() -> None:
    tags = MutationBatch.of("s", 1, [GOOD])
    events = MutationBatch.of("s", 2, [GOOD, Mutation.event("u", "c", "click", "2026-01-01")])
    assert encode_record(tags)[:2] == b"\x01\x00" and encode_record(events)[:2] == b"\x02\x00"
    assert decode_record(encode_record(events)).mutations() == events.mutations()
    assert decode_record(encode_record(tags)).dates is None


@given(st.text(min_size=1, max_size=30).filter(lambda s: "\0" not in s and "\ud800" > s[:1]),
       st.integers(0, 2**62), st.integers(-1, 2**62), st.floats(0, 2e9, allow_nan=False),
       st.lists(st.tuples(TEXT, st.sampled_from(list(MutationOp)), TEXT, TEXT, TEXT), max_size=30))
def test_record_round_trip(source: str, offset: int, first: int, at: float,
                           rows: list[tuple[str, MutationOp, str, str, str]]) -> None:
    try:
        source.encode()
    except UnicodeEncodeError:
        return
    batch = MutationBatch.of(source, offset, [Mutation(u, op, d, v, day) for u, op, d, v, day in rows],
                             first_offset=first)
    batch.appended_at = at
    back = decode_record(encode_record(batch))
    assert back.mutations() == batch.mutations()
    assert (back.source, back.offset, back.first_offset, back.appended_at) == (source, offset, first, at)


def test_damaged_payload_is_a_value_error() -> None:
    payload = encode_record(MutationBatch.of("s", 1, [GOOD, GOOD]))
    with pytest.raises(ValueError):
        decode_record(payload + b"x")


def test_a_new_dimension_takes_the_kind_of_its_first_set_or_add() -> None:
    kinds = check_batch(MutationBatch.of("s", 1, [Mutation("u", MutationOp.REMOVE, "fresh", "1"),
                                                  Mutation("u", MutationOp.SET, "fresh", "2")]), KINDS, 10)
    assert kinds["fresh"] is DimensionKind.SINGLE
    with pytest.raises(InvalidArgumentError, match='mutation 2: op remove on single-valued dimension "fresh"'):
        check_batch(MutationBatch.of("s", 1, [Mutation("u", MutationOp.REMOVE, "fresh", "1"),
                                              Mutation("u", MutationOp.SET, "fresh", "2"),
                                              Mutation("u", MutationOp.REMOVE, "fresh", "1")]), KINDS, 10)


@pytest.mark.parametrize("bad", ["abc", "1-2", "12345678901234567890", "", "4.5"])
def test_int_ids_name_the_first_bad_one(bad: str) -> None:
    from dolphin.stream.batches import check_int_ids

    check_int_ids(MutationBatch.of("s", 3, [Mutation("-42", MutationOp.DELETE_USER), Mutation("7", MutationOp.ADD)]))
    with pytest.raises(InvalidArgumentError, match=f'batch s@3: mutation 1: user_id "{bad}" is not an integer'):
        check_int_ids(MutationBatch.of("s", 3, [Mutation("7", MutationOp.DELETE_USER),
                                                Mutation(bad, MutationOp.DELETE_USER)]))


def test_normalized_applies_nfc_to_dimensions_and_values_only() -> None:
    from dolphin.stream.batches import normalized

    plain = MutationBatch.of("s", 1, [Mutation("u", MutationOp.ADD, "hobby", "café")])
    assert normalized(plain) is plain  # nothing to do: no copy
    mixed = MutationBatch.of("s", 1, [Mutation("e\u0301", MutationOp.ADD, "a\u0301", "cafe\u0301"),
                                      Mutation("u", MutationOp.DELETE_USER)])
    out = normalized(mixed)
    assert out.user_ids == ["e\u0301", "u"]  # IDs are opaque
    assert out.dimensions == ["\u00e1", ""]
    assert out.values == ["caf\u00e9", ""]
