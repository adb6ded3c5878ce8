"""Cluster versions: a load becomes visible on every shard at once, and only when the front reloads.

A shard never serves a load past its pin: not while the load is waiting for the front's reload, not after its
own checkpoint, not when Ray restarts it after kill -9, and not a load that only some shards got. Every answer
here is checked against what the input holds: all users in one wave, so a mix of two versions shows as a
partial count.
"""

from __future__ import annotations

import json
import os
import pathlib
import signal
import threading
import time
from collections.abc import Iterator

import polars as pl
import pytest

from dolphin.client import Client
from dolphin.cluster.shards import actor_pid
from dolphin.errors import DolphinError, PreconditionError
from dolphin.storage import layout
from dolphin.storage.cluster_file import COMMITTED_FILE, PINS_FILE, read_batches
from dolphin.v1 import ingest_service_pb2 as ing_pb
from tests.cluster.conftest import Front, running_front

USERS = 3000
SHARDS = 2


def write_wave(path: pathlib.Path, wave: int) -> str:
    """Every user in one wave (and a second dimension the load also replaces)."""
    pl.DataFrame({"user_id": list(range(1, USERS + 1)), "wave": [str(wave)] * USERS,
                  "parity": [f"{wave}-{u % 2}" for u in range(1, USERS + 1)]}).write_parquet(path)
    return str(path)


def load_wave(root: pathlib.Path, wave: int) -> None:
    from loaders.cluster import load_tags_into_cluster

    load_tags_into_cluster([write_wave(root.parent / f"wave{wave}.parquet", wave)], root, shards=SHARDS,
                           shard_bits=10)


def served_wave(client: Client) -> int:
    """Return the one wave every user is in, failing on any mix of versions."""
    counts = client.batch_count([f"wave={w}" for w in range(1, 5)] + ["streamed=yes"])
    waves = [w for w, c in enumerate(counts[:4], start=1) if c]
    assert len(waves) == 1 and counts[waves[0] - 1] == USERS, f"a mix of versions: {counts}"
    assert counts[4] == 10, counts  # the streamed users survive every move
    return waves[0]


def kill_and_wait(front: Front, shard: int) -> None:
    victim = front.cluster.shards[shard]
    before = actor_pid(victim)
    os.kill(before, signal.SIGKILL)
    deadline = time.monotonic() + 60
    with Client(front.target, timeout=10, retries=0) as client:
        while True:
            try:
                if actor_pid(victim) != before:
                    client.count("ALL")
                    return
            except DolphinError:
                pass
            assert time.monotonic() < deadline, "the shard did not come back"
            time.sleep(0.2)


@pytest.fixture(scope="module")
def waves(ray_session: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Front]:
    root = tmp_path_factory.mktemp("versions") / "root"
    load_wave(root, 1)
    with running_front(root, checkpoint_seconds=0) as running:
        with Client(running.target, timeout=30, retries=0) as client:
            acks = list(client.mutate(iter([ing_pb.MutationBatch(source="versions", offset=1, mutations=[
                ing_pb.Mutation(user_id=str(u), op=ing_pb.MUTATION_OP_ADD, dimension="streamed", value="yes")
                for u in range(1, 11)])])))
            assert acks[0].applied == 10
        yield running


def test_the_front_pins_what_it_serves(waves: Front) -> None:
    assert read_batches(waves.root, PINS_FILE) == read_batches(waves.root, COMMITTED_FILE)
    with Client(waves.target, timeout=30) as client:
        assert served_wave(client) == 1


def test_a_waiting_load_stays_out_through_checkpoints_and_restarts(waves: Front) -> None:
    """Before the fix a shard's checkpoint adopted the new load, and a restarted shard opened it."""
    load_wave(waves.root, 2)
    with Client(waves.target, timeout=30) as client:
        assert served_wave(client) == 1
        client.checkpoint()  # each shard writes its state as a new version, numbered after the waiting load
        assert served_wave(client) == 1
        kill_and_wait(waves, 1)
        assert served_wave(client) == 1
        client.checkpoint()
        assert client.reload().changed
        assert served_wave(client) == 2
        kill_and_wait(waves, 0)  # restarts on its new pin (from a checkpoint of it or the load itself)
        assert served_wave(client) == 2


def test_readers_never_see_a_mix_while_the_front_reloads(waves: Front) -> None:
    wrong: list[str] = []
    seen: set[int] = set()
    stop = threading.Event()

    def read() -> None:
        with Client(waves.target, timeout=30, retries=0) as client:
            while not stop.is_set():
                try:
                    seen.add(served_wave(client))
                except AssertionError as exc:
                    wrong.append(str(exc))

    readers = [threading.Thread(target=read) for _ in range(2)]
    for reader in readers:
        reader.start()
    try:
        for wave in (3, 4):
            load_wave(waves.root, wave)
            time.sleep(0.2)
            with Client(waves.target, timeout=60) as client:
                assert client.reload().changed
            time.sleep(0.2)
    finally:
        stop.set()
        for reader in readers:
            reader.join(30)
    assert not wrong, wrong[:3]
    assert {3, 4} <= seen


def test_a_load_only_some_shards_got_is_never_served(waves: Front) -> None:
    """A load killed half way leaves a new version on shard 0 alone: committed.json does not name it."""
    from loaders.tags import load_tags

    pins = read_batches(waves.root, PINS_FILE)
    load_tags([write_wave(waves.root.parent / "stray.parquet", 1)], waves.root / "shard-000", shard_bits=10)
    with Client(waves.target, timeout=30) as client:
        assert not client.reload().changed
        assert served_wave(client) == 4
        kill_and_wait(waves, 0)
        assert served_wave(client) == 4
    assert read_batches(waves.root, PINS_FILE) == pins


def test_a_damaged_version_moves_no_shard(waves: Front) -> None:
    """Shard 1's part of the new load does not verify: the reload fails before any shard moved."""
    load_wave(waves.root, 2)
    shard_dir = waves.root / "shard-001"
    newest = layout.versions_dir(shard_dir) / layout.version_name(layout.list_versions(shard_dir)[-1])
    assert json.loads((newest / layout.MANIFEST).read_text())["source"]  # a load, not a checkpoint
    target = newest / layout.shard_file(0)
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    pins = read_batches(waves.root, PINS_FILE)
    with Client(waves.target, timeout=30) as client:
        with pytest.raises(PreconditionError, match="no valid version of batch load"):
            client.reload()
        assert served_wave(client) == 4
        assert read_batches(waves.root, PINS_FILE) == pins
        load_wave(waves.root, 3)  # the next good load is served
        assert client.reload().changed
        assert served_wave(client) == 3
