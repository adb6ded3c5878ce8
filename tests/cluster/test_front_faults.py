"""Faults through the front: a shard killed with -9 while clients query and stream. Every answer is correct or
UNAVAILABLE naming the shard, never a partial sum; Ray restarts it; no acked mutation is lost or doubled.

Runs after test_front.py on the same cluster (its streamed users are new, so those answers do not move)."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from dolphin.client import Client
from dolphin.cluster.shards import actor_pid
from dolphin.engine import Engine
from dolphin.errors import DolphinError, InvalidArgumentError
from dolphin.v1 import ingest_service_pb2 as ing_pb
from tests.cluster.conftest import Front

BATCHES = 40
PER_BATCH = 30
CHECKS = ["gender=F AND interest=tennis", "vip=false OR city=Hangzhou", "event(click, campaign=c1)"]


def batch(offset: int) -> ing_pb.MutationBatch:
    return ing_pb.MutationBatch(source="fault-test", offset=offset, mutations=[
        ing_pb.Mutation(user_id=str(10**12 + offset * 1000 + i), op=ing_pb.MUTATION_OP_ADD, dimension="streamed",
                        value="yes") for i in range(PER_BATCH)])


def produce(target: str, upto: int) -> int:
    """Send batches 1..upto exactly once from the cluster's offsets, resuming after every failure; return the
    number of failures seen."""
    failures = 0
    while True:
        with Client(target, timeout=10, retries=0) as client:
            try:
                done = client.get_offsets(["fault-test"])["fault-test"]
                if done >= upto:
                    return failures
                for ack in client.mutate(iter(batch(o) for o in range(max(done, 0) + 1, upto + 1))):
                    assert ack.applied in (0, PER_BATCH)
                    time.sleep(0.01)
            except DolphinError as exc:
                failures += 1
                assert "shard" in str(exc) or "unavailable" in str(exc).lower(), exc
                time.sleep(0.2)


def test_a_bad_batch_changes_no_shard(front: Front) -> None:
    bad = ing_pb.MutationBatch(source="bad", offset=1, mutations=[
        ing_pb.Mutation(user_id="123456789", op=ing_pb.MUTATION_OP_ADD, dimension="streamed", value="no"),
        ing_pb.Mutation(user_id="x", op=ing_pb.MUTATION_OP_ADD, dimension="", value="v")])
    with Client(front.target, timeout=10, retries=0) as client:
        with pytest.raises(InvalidArgumentError):
            list(client.mutate(iter([bad])))
        assert client.get_offsets(["bad"]) == {"bad": -1}


def test_kill_a_shard_while_querying_and_streaming(front: Front, ad_engine: Engine) -> None:
    want = {e: ad_engine.count(e).count for e in CHECKS}
    seen: dict[str, int] = {"correct": 0, "unavailable": 0}
    wrong: list[str] = []
    stop = threading.Event()

    def query() -> None:
        with Client(front.target, timeout=10, retries=0) as client:
            while not stop.is_set():
                for expression in CHECKS:
                    try:
                        got = client.count(expression)
                    except DolphinError as exc:
                        if "shard" not in str(exc):
                            wrong.append(f"{expression}: {exc}")
                        seen["unavailable"] += 1
                        continue
                    if got != want[expression]:
                        wrong.append(f"{expression}: {got} != {want[expression]}")
                    seen["correct"] += 1

    reader = threading.Thread(target=query)
    reader.start()
    failures: list[int] = []
    producer = threading.Thread(target=lambda: failures.append(produce(front.target, BATCHES)))
    producer.start()
    time.sleep(0.5)
    victim = front.cluster.shards[1]
    before = actor_pid(victim)
    os.kill(before, signal.SIGKILL)
    producer.join(120)
    assert not producer.is_alive()
    assert actor_pid(victim) != before
    stop.set()
    reader.join(30)
    assert not wrong, wrong[:5]
    assert seen["correct"] > 0
    with Client(front.target, timeout=10, retries=0) as client:
        deadline = time.monotonic() + 60
        while True:  # the restarted shard serves again
            try:
                assert client.count("streamed=yes") == BATCHES * PER_BATCH  # none lost, none doubled
                break
            except DolphinError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        assert client.get_offsets(["fault-test"]) == {"fault-test": BATCHES}
        for expression in CHECKS:
            assert client.count(expression) == want[expression]
    print(f"answers: {seen}; producer resumed {failures[0]} times")
