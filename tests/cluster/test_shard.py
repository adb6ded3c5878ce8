"""Shards as Ray actors: each serves its part of the data over gRPC, and after kill -9 Ray restarts it from its
own snapshot and log, on the same address, with every acked mutation kept."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator

import polars as pl
import pytest
import ray

from dolphin.client import Client
from dolphin.cluster.shards import RunningShard, actor_pid, start_shards, stop_shards
from dolphin.engine import Engine
from dolphin.errors import DolphinError
from dolphin.storage.partition import shard_of
from dolphin.v1 import ingest_service_pb2 as ing_pb
from loaders.cluster import load_tags_into_cluster

EXPRESSIONS = ["ALL", "gender=F AND interest=tennis", "NOT vip=true", "city IN (Hangzhou, Shanghai) OR vip=true"]


@pytest.fixture(scope="module")
def shards(ray_session: None, tmp_path_factory: pytest.TempPathFactory, frame: pl.DataFrame
           ) -> Iterator[list[RunningShard]]:
    root = tmp_path_factory.mktemp("shards")
    frame.write_parquet(root / "users.parquet")
    load_tags_into_cluster([str(root / "users.parquet")], root / "data", shards=2, shard_bits=9)
    running = start_shards(root / "data", {"watch_seconds": 0.0, "checkpoint_seconds": 0.0}, cpus_per_shard=0.5)
    yield running
    stop_shards(running, 60.0)


def total(shards: list[RunningShard], expression: str) -> int:
    out = 0
    for shard in shards:
        with Client(shard.target, timeout=10, retries=0) as client:
            out += client.count(expression)
    return out


def wait_serving(target: str, timeout: float = 60.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            with Client(target, timeout=2, retries=0) as client:
                client.count("ALL")
            return time.monotonic() - started
        except DolphinError:
            time.sleep(0.1)
    raise AssertionError(f"{target} did not serve again within {timeout} s")


def test_the_shards_together_answer_what_one_node_answers(shards: list[RunningShard], engine: Engine) -> None:
    for expression in EXPRESSIONS:
        assert total(shards, expression) == engine.count(expression).count, expression


def test_ps_names_the_actor_process(shards: list[RunningShard]) -> None:
    pid = actor_pid(shards[0])
    title = subprocess.run(["ps", "-o", "args=", "-p", str(pid)], capture_output=True, text=True).stdout
    assert "ray::Shard" in title


def test_a_killed_shard_comes_back_with_every_acked_mutation(shards: list[RunningShard], engine: Engine,
                                                             frame: pl.DataFrame) -> None:
    users = frame["user_id"]
    on_zero = users.filter(pl.Series(shard_of(users, "string" if users.dtype == pl.String else "int64", 2) == 0))
    user = str(on_zero[0])
    batch = ing_pb.MutationBatch(source="test/0", offset=7, mutations=[ing_pb.Mutation(
        user_id=user, op=ing_pb.MUTATION_OP_ADD, dimension="interest", value="kill-test")])
    with Client(shards[0].target, timeout=10, retries=0) as client:
        [ack] = list(client.mutate(iter([batch])))
    assert ack.applied == 1 and not ack.skipped
    before = actor_pid(shards[0])
    os.kill(before, signal.SIGKILL)
    seconds = wait_serving(shards[0].target)
    assert actor_pid(shards[0]) != before  # a new process, restarted by Ray
    assert seconds < 60
    print(f"shard 0 served again {seconds:.2f} s after kill -9")
    assert total(shards, "interest=kill-test") == 1  # replayed from the shard's log
    with Client(shards[0].target, timeout=10, retries=0) as client:
        assert client.get_offsets(["test/0"]) == {"test/0": 7}
        [again] = list(client.mutate(iter([batch])))  # a resend after the crash: exactly once
    assert again.skipped
    for expression in EXPRESSIONS:  # the added interest value changes none of these
        assert total(shards, expression) == engine.count(expression).count, expression


def test_a_shard_whose_port_was_taken_while_it_was_down_serves_on_a_new_one(shards: list[RunningShard],
                                                                            engine: Engine) -> None:
    old = shards[1].target
    port = int(old.rsplit(":", 1)[1])
    os.kill(actor_pid(shards[1]), signal.SIGKILL)
    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        for _ in range(100):  # the dead server's listening socket is gone at once; connections may linger
            try:
                squatter.bind(("127.0.0.1", port))
                break
            except OSError:
                time.sleep(0.01)
        squatter.listen()
        actor_pid(shards[1])  # restarted: the old port was refused, a new one taken
        new = ray.get(shards[1].actor.address.remote())
        assert new != old
        wait_serving(new)
        with Client(shards[0].target, timeout=10, retries=0) as a, Client(new, timeout=10, retries=0) as b:
            assert a.count("NOT vip=true") + b.count("NOT vip=true") == engine.count("NOT vip=true").count
    finally:
        squatter.close()
