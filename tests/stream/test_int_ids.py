"""Integer user IDs sent as integers (MutationColumns.int_user_ids): the same state as their text, through the
log and a restart, routed to the same shards; refused where the data's IDs are strings, and named when wrong."""

from __future__ import annotations

import pathlib
import tempfile

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dolphin.client import Client
from dolphin.cluster.routing import split_batch
from dolphin.cluster.stream import part_message
from dolphin.engine import Engine
from dolphin.engine.snapshot import Snapshot, StreamState
from dolphin.errors import InvalidArgumentError
from dolphin.server.ingest_service import batch_of
from dolphin.stream.apply import apply_batches
from dolphin.stream.batches import (
    HEAD,
    INT_IDS_FLAG,
    Mutation,
    MutationBatch,
    MutationOp,
    decode_record,
    encode_record,
    validated,
)
from dolphin.v1 import ingest_service_pb2 as pb
from tests.conftest import RunningServer
from tests.stream.test_apply import model_of

USERS = [-5, 0, 7, 2**40, 2**63 - 1, 12, 13, 14, 15]


def integer_batch(source: str, offset: int, rows: list[Mutation]) -> MutationBatch:
    """The batch of rows as a server gets it from int_user_ids."""
    text = MutationBatch.of(source, offset, rows)
    return batch_of(pb.MutationBatch(source=source, offset=offset, columns=pb.MutationColumns(
        int_user_ids=[int(m.user_id) for m in rows], ops=bytes(int(m.op) for m in rows),
        dimensions=[text_index(text, m.dimension) for m in rows], values=[text_index(text, m.value) for m in rows],
        strings=strings_of(text))))


def strings_of(batch: MutationBatch) -> list[str]:
    return ["", *sorted(set(batch.dimensions) | set(batch.values) - {""})]


def text_index(batch: MutationBatch, text: str) -> int:
    return strings_of(batch).index(text) if text else 0


MUTATIONS = st.one_of(
    st.builds(Mutation, st.sampled_from([str(u) for u in USERS]), st.just(MutationOp.SET), st.just("city"),
              st.sampled_from("abcd")),
    st.builds(Mutation, st.sampled_from([str(u) for u in USERS]), st.sampled_from([MutationOp.ADD,
                                                                                   MutationOp.REMOVE]),
              st.just("hobby"), st.sampled_from("xyzw")),
    st.builds(Mutation, st.sampled_from([str(u) for u in USERS]), st.just(MutationOp.DELETE_USER)),
)


def integer_engine(root: pathlib.Path) -> Engine:
    from loaders.tags import load_tags

    pl.DataFrame({"user_id": USERS[:5], "city": ["a", "b", "a", None, "c"],
                  "hobby": [["x"], ["x", "y"], [], None, ["z"]]}).write_parquet(root / "t.pq")
    load_tags([str(root / "t.pq")], root / "data", shard_bits=3)
    return Engine(root / "data")


def applied(snap: Snapshot, batches: list[MutationBatch]) -> Snapshot:
    kinds = dict(snap.kinds)
    for batch in batches:
        kinds = validated(batch, kinds, 1000, int_ids=snap.integer_ids)
    return apply_batches(snap, batches, kinds, StreamState(sequence=1))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(MUTATIONS, min_size=1, max_size=12), min_size=1, max_size=4), st.data())
def test_integers_apply_like_their_text(batches: list[list[Mutation]], data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        snap = integer_engine(pathlib.Path(tmp)).snapshot()
        as_text = [MutationBatch.of("s", i, rows) for i, rows in enumerate(batches)]
        mixed = [integer_batch("s", i, rows) if data.draw(st.booleans()) else MutationBatch.of("s", i, rows)
                 for i, rows in enumerate(batches)]
        as_ints = [integer_batch("s", i, rows) for i, rows in enumerate(batches)]
        want = model_of(applied(snap, as_text))
        assert model_of(applied(snap, as_ints)) == want
        assert model_of(applied(snap, mixed)) == want
        for batch in as_ints:  # the log holds the integers, and gives back the same mutations
            back = decode_record(encode_record(batch))
            assert back.int_ids is not None and back.mutations() == batch.mutations()
            assert HEAD.unpack_from(encode_record(batch))[0] & INT_IDS_FLAG


@given(st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=50))
def test_integers_route_like_their_text(users: list[int]) -> None:
    rows = [Mutation(str(u), MutationOp.ADD, "d", "v") for u in users]
    as_ints = integer_batch("s", 1, rows)
    for text_part, int_part in zip(split_batch(MutationBatch.of("s", 1, rows), "int64", 3),
                                   split_batch(as_ints, "int64", 3), strict=True):
        assert int_part.mutations() == text_part.mutations()
        assert batch_of(part_message(int_part)).mutations() == text_part.mutations()  # a front sends integers on


def test_wrong_integer_batches_are_named(tmp_path: pathlib.Path) -> None:
    message = pb.MutationBatch(source="s", offset=1, columns=pb.MutationColumns(
        user_ids=["1"], int_user_ids=[1], ops=b"\x01", dimensions=[1], values=[1], strings=["", "a"]))
    with pytest.raises(InvalidArgumentError, match="both user_ids and int_user_ids"):
        batch_of(message)
    message.columns.ClearField("user_ids")
    message.columns.int_user_ids.append(2)
    with pytest.raises(InvalidArgumentError, match="columns hold 2 int_user_ids but 1 ops"):
        batch_of(message)
    pl.DataFrame({"user_id": ["u1", "u2"], "city": ["a", "b"]}).write_parquet(tmp_path / "t.pq")
    from loaders.tags import load_tags

    load_tags([str(tmp_path / "t.pq")], tmp_path / "data", shard_bits=3)
    strings = Engine(tmp_path / "data").snapshot()
    with pytest.raises(InvalidArgumentError, match="int_user_ids need a data dir of integer user IDs"):
        validated(integer_batch("s", 1, [Mutation("1", MutationOp.SET, "city", "a")]), dict(strings.kinds), 10,
                  int_ids=strings.integer_ids)
    payload = bytearray(encode_record(integer_batch("s", 1, [Mutation("1", MutationOp.SET, "city", "a")])))
    with pytest.raises(ValueError):
        decode_record(bytes(payload[:-3]))


def test_integers_through_a_server_and_its_log(data_copy: pathlib.Path) -> None:
    engine = Engine(data_copy)
    users = np.frombuffer(engine.snapshot().population.to_array(), dtype=np.uint32)[:300]
    external = [int(u) for u in engine.snapshot().ids.decode_integers(users)]
    batches = [pb.MutationBatch(source="ints", offset=i, columns=pb.MutationColumns(
        int_user_ids=external[i * 100:(i + 1) * 100], ops=bytes([int(MutationOp.ADD)] * 100),
        dimensions=[1] * 100, values=[2] * 100, strings=["", "interest", f"ints{i % 2}"])) for i in range(3)]
    server = RunningServer(data_copy)
    try:
        with Client(server.target) as client:
            acks = list(client.mutate(iter(batches)))
            assert [a.applied for a in acks] == [100, 100, 100]
            assert client.count("interest=ints0") == 200 and client.count("interest=ints1") == 100
    finally:
        server.proc.kill()  # kill -9: the next start replays the log
        server.proc.wait()
        if server.proc.stdout is not None:
            server.proc.stdout.close()
    again = RunningServer(data_copy)
    try:
        with Client(again.target) as client:
            assert client.count("interest=ints0") == 200
            assert client.count("interest=ints0 AND interest=ints1") == 0
    finally:
        assert again.stop() == 0
