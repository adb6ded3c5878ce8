"""Faults through the front: a shard killed with -9 while clients query and stream. Every answer is correct or
UNAVAILABLE naming the shard, never a partial sum; Ray restarts it; no acked mutation is lost or doubled.

Runs after test_front.py on the same cluster (its streamed users are new, so those answers do not move)."""

from __future__ import annotations

import os
import pathlib
import signal
import socket
import subprocess
import sys
import threading
import time

import grpc
import pytest

from dolphin.client import Client
from dolphin.cluster.shards import actor_pid
from dolphin.engine import Engine
from dolphin.errors import DolphinError, InvalidArgumentError
from dolphin.v1 import audience_service_pb2 as aud_pb
from dolphin.v1 import audience_service_pb2_grpc as aud_grpc
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
                    # a batch resent after a crash may already be durable on some shards: they skip their part,
                    # so the ack counts only the rest (the final count checks that nothing is lost or doubled)
                    assert 0 <= ack.applied <= PER_BATCH
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


def test_a_stalled_shard_fails_the_call_at_its_deadline(front: Front, ad_engine: Engine) -> None:
    """SIGSTOP freezes a shard with its connections open: only the deadline can end the call."""
    pid = actor_pid(front.cluster.shards[2])
    with grpc.insecure_channel(front.target) as channel:
        stub = aud_grpc.AudienceServiceStub(channel)
        stub.Count(aud_pb.CountRequest(expression="gender=F"), timeout=30)  # seen once: the event-loop path
        os.kill(pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            with pytest.raises(grpc.RpcError) as caught:
                stub.Count(aud_pb.CountRequest(expression="gender=F"), timeout=1.0)
            waited = time.monotonic() - started
        finally:
            os.kill(pid, signal.SIGCONT)
        assert caught.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
        assert waited < 10, waited  # the call ended by its deadline, not by the shard waking up
        # the front's other calls were not stuck behind it, and the shard answers again once it runs
        assert stub.Count(aud_pb.CountRequest(expression="gender=F"), timeout=30).count == ad_engine.count(
            "gender=F").count


def front_process(root: pathlib.Path, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "dolphin", "cluster", "serve", "--data-root", str(root), "--port", str(port),
         "--cpus-per-shard", "0.25", "--watch-seconds", "0", "--fsync", "always"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def descendants(pid: int) -> set[int]:
    rows = [line.split() for line in subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True,
                                                    text=True).stdout.splitlines() if line.strip()]
    found, todo = set(), [pid]
    while todo:
        parent = todo.pop()
        for child, ppid in rows:
            if int(ppid) == parent and int(child) not in found:
                found.add(int(child))
                todo.append(int(child))
    return found


def test_kill_the_front_while_streaming(ray_session: None, ad_world: dict[str, object],
                                        tmp_path: pathlib.Path) -> None:
    """kill -9 of `dolphin cluster serve` takes its Ray and shards with it; started again, it serves the
    acknowledged batches, and a producer that resumes from GetOffsets gets every batch exactly once."""
    from loaders.cluster import load_tags_into_cluster

    root = tmp_path / "root"
    load_tags_into_cluster([str(pathlib.Path(str(ad_world["root"])) / "tags.parquet")], root, shards=2)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    target = f"127.0.0.1:{port}"
    first = front_process(root, port)
    try:
        wait_serving(target)
        failures: list[int] = []
        producer = threading.Thread(target=lambda: failures.append(produce(target, BATCHES)), daemon=True)
        producer.start()
        with Client(target, timeout=10, retries=0) as client:
            while client.get_offsets(["fault-test"])["fault-test"] < BATCHES // 3:
                time.sleep(0.05)
        # the shards (which hold the data dirs and logs) must die with the front; Ray's own dashboard and
        # runtime-env agents linger for a while after their raylet is gone, holding nothing of ours
        shards = {p for p in descendants(first.pid) if command_of(p).startswith("ray::Shard")}
        assert len(shards) == 2
        os.kill(first.pid, signal.SIGKILL)
        first.wait(30)
        deadline = time.monotonic() + 60
        while alive := {p for p in shards if running(p)}:
            assert time.monotonic() < deadline, f"shards of the killed front still run: {alive}"
            time.sleep(0.2)
        second = front_process(root, port)
        try:
            producer.join(180)
            assert not producer.is_alive() and failures[0] > 0
            with Client(target, timeout=30, retries=0) as client:
                assert client.get_offsets(["fault-test"]) == {"fault-test": BATCHES}
                assert client.count("streamed=yes") == BATCHES * PER_BATCH  # none lost, none doubled
        finally:
            os.killpg(second.pid, signal.SIGTERM)
            second.wait(60)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)


def command_of(pid: int) -> str:
    try:
        return pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def running(pid: int) -> bool:
    try:
        return "zombie" not in pathlib.Path(f"/proc/{pid}/status").read_text().lower()
    except OSError:
        return False


def wait_serving(target: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with Client(target, timeout=2, retries=0) as client:
                client.count("ALL")
                return
        except DolphinError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
