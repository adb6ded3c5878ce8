"""MutationColumns decode to the same batch as the same rows in `mutations`; bad columns are named errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dolphin.cluster.stream import part_message
from dolphin.errors import DolphinError, InvalidArgumentError
from dolphin.server.ingest_service import batch_of
from dolphin.storage import DimensionKind
from dolphin.stream.batches import Mutation, MutationBatch, MutationOp, normalized, validated
from dolphin.v1 import ingest_service_pb2 as pb

TEXT = st.text(st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)), max_size=8)
ROWS = st.lists(st.one_of(
    st.builds(Mutation, TEXT, st.sampled_from([MutationOp.ADD, MutationOp.REMOVE, MutationOp.SET,
                                               MutationOp.SET_NUMBER]), TEXT, TEXT),
    st.builds(Mutation, TEXT, st.just(MutationOp.DELETE_USER)),
    st.builds(Mutation.event, TEXT, TEXT, TEXT, st.sampled_from(["2026-11-01", "2026-11-02"])),
), max_size=40)


def row_message(batch: MutationBatch) -> pb.MutationBatch:
    mutations = []
    for m in batch.mutations():
        if m.op is MutationOp.ADD_EVENT:
            mutations.append(pb.Mutation(user_id=m.user_id, op=int(m.op), campaign=m.dimension, event=m.value,
                                         date=m.date))
        else:
            mutations.append(pb.Mutation(user_id=m.user_id, op=int(m.op), dimension=m.dimension, value=m.value))
    return pb.MutationBatch(source=batch.source, offset=batch.offset, mutations=mutations)


@settings(max_examples=100, deadline=None)
@given(ROWS)
def test_columns_decode_like_rows(rows: list[Mutation]) -> None:
    batch = MutationBatch.of("k/1", 9, rows)
    by_rows = batch_of(row_message(batch))
    by_columns = batch_of(part_message(batch))  # the cluster front sends parts as columns
    assert by_columns.mutations() == by_rows.mutations() == batch.mutations()
    assert np.array_equal(by_columns.ops, by_rows.ops)
    assert (by_columns.dates is None) == (by_rows.dates is None)


@pytest.mark.parametrize(("columns", "message"), [
    (pb.MutationColumns(user_ids=["1", "2"], ops=b"\x01", dimensions=[0, 0], values=[0, 0], strings=[""]),
     "columns hold 2 user_ids but 1 ops"),
    (pb.MutationColumns(user_ids=["1"], ops=b"\x01", dimensions=[3], values=[0], strings=["", "a"]),
     "mutation 0: dimension index 3 is past the 2 strings"),
    (pb.MutationColumns(user_ids=["1"], ops=b"\x07", dimensions=[1], values=[1], dates=[1, 1], strings=["", "x"]),
     "columns hold 1 user_ids but 2 dates"),
])
def test_bad_columns_are_named(columns: pb.MutationColumns, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        batch_of(pb.MutationBatch(source="s", offset=1, columns=columns))


def test_rows_and_columns_together_are_refused() -> None:
    both = pb.MutationBatch(source="s", offset=1, mutations=[pb.Mutation(user_id="1", op=1, dimension="d")],
                            columns=pb.MutationColumns(user_ids=["2"], ops=b"\x01", dimensions=[0], values=[0]))
    with pytest.raises(InvalidArgumentError, match="send mutations or columns, not both"):
        batch_of(both)


BAD_TEXT = st.one_of(TEXT, st.sampled_from(["", "a\0b", "x" * 1025, "e\u0301", "é", "city", "interest"]))
MIXED_ROWS = st.lists(st.one_of(
    st.builds(Mutation, TEXT, st.sampled_from([MutationOp.ADD, MutationOp.REMOVE, MutationOp.SET]), BAD_TEXT,
              BAD_TEXT),
    st.builds(Mutation, TEXT, st.just(MutationOp.DELETE_USER)),
    st.builds(Mutation.event, TEXT, BAD_TEXT, BAD_TEXT, st.just("2026-11-01")),
), min_size=1, max_size=30)
KNOWN = st.dictionaries(st.sampled_from(["city", "interest", "e\u0301", "é"]),
                        st.sampled_from([DimensionKind.SINGLE, DimensionKind.MULTI]), max_size=3)


def verdict(batch: MutationBatch, kinds: dict[str, DimensionKind]) -> object:
    """Return what validation says of a batch: the kinds after it, or its error's message."""
    try:
        return validated(normalized(batch), kinds, 1000, int_ids=False)
    except DolphinError as exc:
        return str(exc)


@settings(max_examples=200, deadline=None)
@given(MIXED_ROWS, KNOWN)
def test_checks_through_the_string_table_say_what_checks_per_row_say(rows: list[Mutation],
                                                                     kinds: dict[str, DimensionKind]) -> None:
    batch = MutationBatch.of("k/1", 9, rows)
    by_columns = batch_of(part_message(batch))
    assert by_columns.codes is not None
    by_rows = batch_of(row_message(batch))
    assert by_rows.codes is None
    assert verdict(by_columns, kinds) == verdict(by_rows, kinds)
    assert normalized(by_columns).mutations() == normalized(by_rows).mutations()
