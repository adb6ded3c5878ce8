"""Stream ingest in process: exactly-once offsets, group commit, checkpoints, recovery, I/O faults, power loss."""

from __future__ import annotations

import concurrent.futures
import errno
import json
import os
import pathlib
import random
import shutil
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl
import pytest
from pyroaring import AbstractBitMap

from dolphin.engine import Engine
from dolphin.engine.snapshot import Snapshot
from dolphin.errors import InvalidArgumentError, StorageFullError, WalCorruptError
from dolphin.storage import layout
from dolphin.storage.wal import FileOps, list_segments, scan_segment
from dolphin.stream import Ack, FsyncPolicy, Ingestor, IngestSettings, open_stream
from dolphin.stream.batches import Mutation, MutationBatch, MutationOp
from loaders.tags import load_tags
from tests.engine.model import Model

USERS = [f"u{i}" for i in range(300)]
CITIES = list("abcdef")
HOBBIES = list("pqrstuvw")


def load_base(root: pathlib.Path) -> pathlib.Path:
    rng = random.Random(5)
    pl.DataFrame({
        "user_id": USERS[:200],
        "city": [rng.choice(CITIES) for _ in range(200)],
        "hobby": [rng.sample(HOBBIES, rng.randrange(3)) for _ in range(200)],
        "tier": [rng.choice(["gold", "silver", None]) for _ in range(200)],
    }).write_parquet(root / "base.parquet")
    load_tags([str(root / "base.parquet")], root / "data", shard_bits=6)
    return root / "data"


def random_mutations(rng: random.Random, n: int, *, deletes: bool = True) -> list[Mutation]:
    out = []
    for _ in range(n):
        user, roll = rng.choice(USERS), rng.random()
        if roll < 0.4:
            out.append(Mutation(user, MutationOp.SET, "city", rng.choice(CITIES)))
        elif roll < 0.9 or not deletes:
            out.append(Mutation(user, rng.choice([MutationOp.ADD, MutationOp.REMOVE]), "hobby", rng.choice(HOBBIES)))
        else:
            out.append(Mutation(user, MutationOp.DELETE_USER))
    return out


def model_of(engine: Engine) -> Model:
    snap = engine.snapshot()
    decode = lambda bm: set(snap.ids.decode(np.frombuffer(bm.to_array(), dtype=np.uint32)))  # noqa: E731
    return Model(decode(snap.population),
                 {d: {v: decode(bm) for v, bm in vs.items() if bm} for d, vs in snap.tags.items()},
                 {(c, e, day): decode(bm) for (c, e), days in snap.data.events.items() for day, bm in days.items()})


def start(data: pathlib.Path, ops: FileOps | None = None, on_fatal: Callable[[BaseException], None] | None = None,
          **settings: Any) -> Ingestor:
    return open_stream(data, IngestSettings(**{"checkpoint_seconds": 0.0, **settings}), ops=ops, on_fatal=on_fatal)


def fresh(data: pathlib.Path, seed: int, n: int, size: int, **settings: Any) -> tuple[Ingestor, Model,
                                                                           list[list[Mutation]]]:
    """Start ingest over data; return it, the model before any batch, and n random batches not yet sent."""
    ingestor = start(data, **settings)
    rng = random.Random(seed)
    return ingestor, model_of(ingestor.engine), [random_mutations(rng, size) for _ in range(n)]


def acked(ingestor: Ingestor, batches: list[list[Mutation]], first: int = 0) -> list[Ack]:
    """Submit batches from source "s" at offsets first, first+1, ... and wait for each ack."""
    return [ingestor.submit(MutationBatch.of("s", first + i, b)).result() for i, b in enumerate(batches)]


def expected(data_model: Model, batches: list[list[Mutation]]) -> Model:
    for batch in batches:
        for m in batch:
            data_model.apply(m)
    return data_model.cleaned()


@pytest.fixture
def data(tmp_path: pathlib.Path) -> pathlib.Path:
    return load_base(tmp_path)


def test_apply_recover_and_exactly_once(data: pathlib.Path) -> None:
    ingestor, base, batches = fresh(data, 1, 30, 40)
    acks = [ingestor.submit(MutationBatch.of("k/0", 10 * (i + 1), b)).result() for i, b in enumerate(batches)]
    assert all(not a.skipped and a.applied == 40 for a in acks)
    assert [a.sequence for a in acks] == sorted(a.sequence for a in acks)
    want = expected(base, batches)
    assert model_of(ingestor.engine) == want
    # replays at or below the stored offset are acked as skipped and change nothing
    again = ingestor.submit(MutationBatch.of("k/0", 150, batches[0])).result()
    assert again == Ack("k/0", 150, 0, True, acks[-1].sequence, acks[-1].version)
    with pytest.raises(InvalidArgumentError, match="offsets 295..310 overlap the stored offset 300"):
        ingestor.submit(MutationBatch.of("k/0", 310, batches[0], first_offset=295)).result()
    assert model_of(ingestor.engine) == want and ingestor.offsets() == {"k/0": 300}
    ingestor.close(checkpoint=False)  # as after a crash: nothing but the log
    recovered = start(data)
    assert recovered.recovery is not None and recovered.recovery.replayed == 30
    assert model_of(recovered.engine) == want and recovered.offsets() == {"k/0": 300}
    recovered.close()
    assert model_of(start(data).engine) == want  # from the shutdown checkpoint, nothing replayed


def test_rejected_batch_never_reaches_the_log(data: pathlib.Path) -> None:
    ingestor = start(data)
    before = model_of(ingestor.engine)
    position = ingestor.engine.snapshot().stream.wal_position
    bad = [Mutation("u1", MutationOp.ADD, "hobby", "x"), Mutation("u2", MutationOp.ADD, "city", "a")]
    with pytest.raises(InvalidArgumentError, match='batch s@1: mutation 1: op add on single-valued dimension "city"'):
        ingestor.submit(MutationBatch.of("s", 1, bad)).result()
    assert model_of(ingestor.engine) == before and ingestor.offsets() == {}
    assert ingestor.engine.snapshot().stream.wal_position == position
    ingestor.close(checkpoint=False)


class CountingFs(FileOps):
    def __init__(self) -> None:
        self.fsyncs = 0

    def fsync(self, fd: int) -> None:
        self.fsyncs += 1
        time.sleep(0.002)  # a slow disk, so that batches pile up behind each fsync
        super().fsync(fd)


def test_group_commit_shares_fsyncs(data: pathlib.Path) -> None:
    fs = CountingFs()
    ingestor = open_stream(data, IngestSettings(checkpoint_seconds=0), ops=fs)
    fs.fsyncs = 0
    rng = random.Random(2)
    futures = [ingestor.submit(MutationBatch.of(f"s{i % 4}", i, random_mutations(rng, 5, deletes=False)))
               for i in range(200)]
    concurrent.futures.wait(futures)
    assert all(f.result().applied == 5 for f in futures)
    assert fs.fsyncs < 100, fs.fsyncs  # 200 batches, far fewer fsyncs
    ingestor.close(checkpoint=False)


def test_fsync_policy_parsing() -> None:
    assert FsyncPolicy.parse("batch") == FsyncPolicy("always")
    assert FsyncPolicy.parse("interval=100ms") == FsyncPolicy("interval", 0.1)
    assert str(FsyncPolicy.parse("interval=2s")) == "interval=2000ms"
    for bad in ("sometimes", "interval=0ms", "interval=ms", "interval=5m"):
        with pytest.raises(ValueError, match="is not always, batch, none or interval"):
            FsyncPolicy.parse(bad)


@pytest.mark.parametrize("incremental", [True, False])
def test_checkpoint_round_trip(data: pathlib.Path, incremental: bool) -> None:
    ingestor = start(data, overlay_ratio=10.0 if incremental else 0.0)
    base = model_of(ingestor.engine)
    rng = random.Random(3)
    batches = [random_mutations(rng, 30, deletes=False) + [Mutation(f"new{i}", MutationOp.SET, "city", "z")]
               for i in range(10)]
    for i, b in enumerate(batches[:5]):
        ingestor.submit(MutationBatch.of("s", i, b)).result()
    first = ingestor.checkpoint()
    for i, b in enumerate(batches[5:], start=5):
        ingestor.submit(MutationBatch.of("s", i, b)).result()
    second = ingestor.checkpoint()
    assert first.incremental is incremental and second.incremental is incremental
    assert second.version == first.version + 1 and ingestor.engine.snapshot().version == second.version
    path = layout.versions_dir(data) / layout.version_name(second.version)
    if incremental:
        assert (path / layout.OVERLAY_FILE).exists() and (path / layout.IDS_DELTA_FILE).exists()
        assert os.stat(path / layout.shard_file(0)).st_nlink > 1  # shared with the base, not rewritten
    want = expected(base, batches)
    assert model_of(ingestor.engine) == want
    ingestor.close(checkpoint=False)
    reopened = Engine(data)  # a plain engine, no log: the version alone holds everything
    assert model_of(reopened) == want and reopened.count("city=z").count == 10
    assert reopened.snapshot().data.manifest.stream.offsets == {"s": 9}


def test_incremental_checkpoints_chain_across_restarts(data: pathlib.Path) -> None:
    """Each life touches one or two tags and checkpoints incrementally over the last life's incremental version:
    the chain keeps every earlier link's tags (issue 15 lost them after the second restart)."""
    want = model_of(Engine(data))
    rng = random.Random(15)
    offset = 0
    for life in range(8):
        ingestor = start(data, overlay_ratio=10.0)
        assert model_of(ingestor.engine) == want.cleaned(), f"life {life}"
        hobby = HOBBIES[life % len(HOBBIES)]
        batch = [Mutation(rng.choice(USERS), rng.choice([MutationOp.ADD, MutationOp.REMOVE]), "hobby", hobby)
                 for _ in range(6)] + [Mutation(f"life{life}", MutationOp.ADD, "hobby", hobby)]
        ingestor.submit(MutationBatch.of("s", offset, batch)).result()
        offset += 1
        for m in batch:
            want.apply(m)
        result = ingestor.checkpoint()
        assert result.incremental and result.changed_tags <= 2
        ingestor.close(checkpoint=False)
        manifest = Engine(data).snapshot().data.manifest
        assert manifest.overlay is not None and manifest.base_version == 1  # one full base, one overlay
        assert {(t.dimension, t.value) for t in manifest.overlay} >= {("hobby", h) for h in HOBBIES[: life + 1]}
    assert model_of(Engine(data)) == want.cleaned()


def test_a_full_checkpoint_compacts_the_chain(data: pathlib.Path) -> None:
    ingestor = start(data, overlay_ratio=10.0)
    ingestor.submit(MutationBatch.of("s", 0, [Mutation("u1", MutationOp.ADD, "hobby", "fresh")])).result()
    assert ingestor.checkpoint().incremental
    ingestor.close(checkpoint=False)
    ingestor = start(data, overlay_ratio=0.0)
    ingestor.submit(MutationBatch.of("s", 1, [Mutation("u2", MutationOp.ADD, "hobby", "other")])).result()
    assert not ingestor.checkpoint().incremental
    ingestor.close(checkpoint=False)
    reopened = Engine(data)
    assert reopened.snapshot().data.manifest.overlay is None
    assert reopened.count("hobby=fresh").count == 1 and reopened.count("hobby=other").count == 1


def test_checkpoint_truncates_the_log(data: pathlib.Path) -> None:
    ingestor = start(data, wal_retention_seconds=0.0, keep_versions=2)
    rng = random.Random(4)
    for i in range(5):
        ingestor.submit(MutationBatch.of("s", i, random_mutations(rng, 20))).result()
    first = ingestor.checkpoint()
    assert not first.removed_segments  # the batch version is still kept, and its fallback replays by cut time
    ingestor.submit(MutationBatch.of("s", 5, random_mutations(rng, 20))).result()
    second = ingestor.checkpoint()
    assert second.removed_segments == ["00000000000000000000.wal"]
    assert [int(p.stem) for p in list_segments(layout.wal_dir(data))] == [first.wal_position, second.wal_position]
    ingestor.close(checkpoint=False)
    again = start(data)
    assert again.recovery is not None and again.recovery.replayed == 0
    again.close(checkpoint=False)


def test_torn_tail_is_cut_and_earlier_batches_kept(data: pathlib.Path) -> None:
    ingestor, base, batches = fresh(data, 6, 4, 10)
    for i, b in enumerate(batches):
        ingestor.submit(MutationBatch.of("s", i, b)).result()
    ingestor.close(checkpoint=False)
    segment = list_segments(layout.wal_dir(data))[-1]
    full = segment.read_bytes()
    last = scan_segment(segment).records[-1]
    last_start = len(full) - (last.end - last.position)
    saved = data.parent / "saved"
    shutil.copytree(data, saved)
    want = expected(base, batches[:3])
    for cut in [last_start + 1, *random.Random(0).sample(range(last_start + 2, len(full)), 4)]:
        shutil.rmtree(data)
        shutil.copytree(saved, data)
        segment.write_bytes(full[:cut])
        recovered = start(data)
        assert recovered.recovery is not None
        assert recovered.recovery.truncated[0].startswith(f"WAL tail truncated: {cut - last_start} bytes at offset "
                                                          f"{last_start} in file {segment}")
        assert model_of(recovered.engine) == want and recovered.offsets() == {"s": 2}
        assert segment.read_bytes() == full[:last_start]  # records 1..n-1 byte-identical
        recovered.close(checkpoint=False)


def test_corruption_in_the_middle_refuses_to_start(data: pathlib.Path) -> None:
    ingestor = start(data)
    rng = random.Random(7)
    for i in range(5):
        ingestor.submit(MutationBatch.of("s", i, random_mutations(rng, 10))).result()
    ingestor.close(checkpoint=False)
    segment = list_segments(layout.wal_dir(data))[-1]
    raw = bytearray(segment.read_bytes())
    raw[100] ^= 0xFF  # inside the first record
    segment.write_bytes(bytes(raw))
    with pytest.raises(WalCorruptError, match=f"{segment}: corrupt WAL record at byte 24 .*truncate-at-corruption"):
        start(data)
    recovered = start(data, truncate_at_corruption=True)
    assert recovered.recovery is not None and "WAL cut at corruption" in recovered.recovery.truncated[0]
    assert recovered.offsets() == {}
    recovered.close(checkpoint=False)


class FullDisk(FileOps):
    """Writes fail with ENOSPC while `full` is set (what a full volume does)."""

    def __init__(self) -> None:
        self.full = False

    def write(self, fd: int, data: memoryview) -> int:
        if self.full:
            written = super().write(fd, data[: len(data) // 3])  # a short write first, then the error
            if written:
                raise OSError(errno.ENOSPC, "No space left on device")
        return super().write(fd, data)


def test_full_disk_refuses_batches_and_recovers_without_restart(data: pathlib.Path) -> None:
    fs = FullDisk()
    ingestor, base, batches = fresh(data, 8, 3, 10, ops=fs)
    acked(ingestor, batches[:1])
    fs.full = True
    with pytest.raises(StorageFullError, match="data dir is full .*batch not applied"):
        ingestor.submit(MutationBatch.of("s", 1, batches[1])).result()
    assert ingestor.storage_full and ingestor.offsets() == {"s": 0}
    assert ingestor.engine.count("ALL").count == len(expected(Model(set(base.population), {
        d: {v: set(u) for v, u in vs.items()} for d, vs in base.tags.items()}), batches[:1]).population)
    fs.full = False
    ingestor.submit(MutationBatch.of("s", 1, batches[1])).result()
    ingestor.submit(MutationBatch.of("s", 2, batches[2])).result()
    assert not ingestor.storage_full
    ingestor.close(checkpoint=False)
    assert model_of(start(data).engine) == expected(base, batches)  # the log holds no half record


class FailingFsync(FileOps):
    def __init__(self) -> None:
        self.fail = False

    def fsync(self, fd: int) -> None:
        if self.fail:
            raise OSError(errno.EIO, "Input/output error")
        super().fsync(fd)


def test_fsync_error_stops_ingest_and_acks_nothing_more(data: pathlib.Path) -> None:
    fs = FailingFsync()
    fatal: list[BaseException] = []
    ingestor, base, batches = fresh(data, 9, 3, 10, ops=fs, on_fatal=fatal.append)
    acked(ingestor, batches[:1])
    fs.fail = True
    with pytest.raises(StorageFullError, match="fsync of the WAL failed"):
        ingestor.submit(MutationBatch.of("s", 1, batches[1])).result()
    with pytest.raises(StorageFullError, match="stopped after a log failure"):
        ingestor.submit(MutationBatch.of("s", 2, batches[2])).result()
    assert len(fatal) == 1 and fatal[0].errno == errno.EIO  # type: ignore[attr-defined]
    assert ingestor.offsets() == {"s": 0}
    recovered = start(data)  # the unacked batch may or may not be in the log: at most once
    stored = recovered.offsets()["s"]
    assert stored in (0, 1)
    assert model_of(recovered.engine) == expected(base, batches[: stored + 1])
    recovered.close(checkpoint=False)


class CrashFs(FileOps):
    """Remembers what was fsynced; crash() drops, tears or garbles everything that was not (SQLite's crash VFS)."""

    def __init__(self) -> None:
        self.paths: dict[int, pathlib.Path] = {}
        self.durable: dict[pathlib.Path, int] = {}
        self.undurable_names: set[pathlib.Path] = set()

    def open_new(self, path: pathlib.Path) -> int:
        fd = super().open_new(path)
        self.paths[fd], self.durable[path] = path, 0
        self.undurable_names.add(path)
        return fd

    def fsync(self, fd: int) -> None:
        super().fsync(fd)
        self.durable[self.paths[fd]] = os.fstat(fd).st_size

    def truncate(self, fd: int, size: int) -> None:
        super().truncate(fd, size)
        self.durable[self.paths[fd]] = min(self.durable[self.paths[fd]], size)

    def fsync_dir(self, path: pathlib.Path) -> None:
        super().fsync_dir(path)
        self.undurable_names = {p for p in self.undurable_names if p.parent != path}

    def crash(self, rng: random.Random) -> None:
        for path, durable in self.durable.items():
            if not path.exists():
                continue
            if path in self.undurable_names:
                path.unlink()
                continue
            data = path.read_bytes()
            kept = data[: durable + rng.randrange(len(data) - durable + 1)]
            if rng.random() < 0.3 and len(kept) < len(data):
                kept += rng.randbytes(rng.randrange(1, 64))  # a torn sector of garbage
            path.write_bytes(kept)


@pytest.mark.parametrize("policy", ["always", "interval=3600s"])
def test_power_loss_loses_no_acked_batch_under_always(tmp_path: pathlib.Path, policy: str) -> None:
    saved = load_base(tmp_path)
    base = model_of(Engine(saved))
    rng = random.Random(policy)
    cases = 300 if policy == "always" else 200
    lost_any = False
    for case in range(cases):
        data = tmp_path / f"case{case}"
        shutil.copytree(saved, data)
        fs = CrashFs()
        ingestor = open_stream(data, IngestSettings(checkpoint_seconds=0, fsync=FsyncPolicy.parse(policy)), ops=fs)
        batches = [random_mutations(rng, rng.randrange(1, 12)) for _ in range(rng.randrange(1, 12))]
        acked = [ingestor.submit(MutationBatch.of("s", i, b)).result() for i, b in enumerate(batches)]
        if rng.random() < 0.3:
            ingestor.checkpoint()
        fs.crash(rng)  # the process and the machine die: the writer thread is simply abandoned
        recovered = start(data)
        stored = recovered.offsets().get("s", -1)
        if policy == "always":
            assert stored == len(acked) - 1, (case, stored)
        lost_any |= stored < len(acked) - 1
        assert model_of(recovered.engine) == expected(Model(set(base.population), {
            d: {v: set(u) for v, u in vs.items()} for d, vs in base.tags.items()}), batches[: stored + 1]), case
        recovered.close(checkpoint=False)
        shutil.rmtree(data)
    if policy != "always":
        assert lost_any  # the fault layer does drop un-fsynced writes: the test can see a missing fsync


def test_batch_load_keeps_stream_mutations_after_its_cut_time(data: pathlib.Path, tmp_path: pathlib.Path) -> None:
    ingestor = start(data)
    engine = ingestor.engine
    early = [Mutation("u1", MutationOp.SET, "city", "a"), Mutation("u2", MutationOp.ADD, "hobby", "p")]
    ingestor.submit(MutationBatch.of("s", 0, early)).result()
    time.sleep(0.02)
    cut = time.time()
    time.sleep(0.02)
    late = [Mutation("u3", MutationOp.SET, "city", "f"), Mutation("u4", MutationOp.ADD, "hobby", "w"),
            Mutation("new1", MutationOp.SET, "city", "e")]
    ingestor.submit(MutationBatch.of("s", 1, late)).result()
    # the nightly export, cut between the two batches, holds city for everyone: u1=b, u3=c
    pl.DataFrame({"user_id": ["u1", "u3", "u9"], "city": ["b", "c", "d"]}).write_parquet(tmp_path / "nightly.pq")
    load_tags([str(tmp_path / "nightly.pq")], data, shard_bits=6, cut_time=cut)
    assert engine.reload().changed
    users = lambda e: set(model_of(engine).tags["city"].get(e, set()))  # noqa: E731
    assert "u1" in users("b")  # before the cut: the batch is the truth
    assert "u3" in users("f") and "new1" in users("e")  # after the cut: the stream wins
    assert "u2" in model_of(engine).tags["hobby"]["p"]  # carried dimension: every logged mutation kept
    assert "u4" in model_of(engine).tags["hobby"]["w"]
    assert ingestor.offsets() == {"s": 1}
    want = model_of(engine)
    ingestor.close(checkpoint=False)
    assert model_of(start(data).engine) == want  # a restart replays the same way from the batch version


def test_a_corrupt_newest_version_falls_back_and_replays_from_the_older_one(data: pathlib.Path) -> None:
    ingestor, base, batches = fresh(data, 11, 6, 10, wal_retention_seconds=0.0)
    for i, b in enumerate(batches[:3]):
        ingestor.submit(MutationBatch.of("s", i, b)).result()
    ingestor.checkpoint()
    for i, b in enumerate(batches[3:], start=3):
        ingestor.submit(MutationBatch.of("s", i, b)).result()
    newest = ingestor.checkpoint().version
    ingestor.close(checkpoint=False)
    shard = layout.versions_dir(data) / layout.version_name(newest) / layout.shard_file(0)
    os.chmod(shard, 0o644)
    raw = bytearray(shard.read_bytes())
    raw[-5] ^= 0xFF
    shard.unlink()  # a hard link may share the inode with an older version: replace the file, do not edit it
    shard.write_bytes(bytes(raw))
    recovered = start(data)
    assert recovered.engine.snapshot().version == newest - 1
    assert "checksum mismatch" in recovered.engine.status().skipped_versions[0]  # reported, not silent
    assert model_of(recovered.engine) == expected(base, batches) and recovered.offsets() == {"s": 5}
    recovered.close(checkpoint=False)


def test_a_replay_in_the_same_group_as_its_refused_original_is_not_acked(data: pathlib.Path) -> None:
    from dolphin.stream.group_commit import _Submitted

    fs = FullDisk()
    ingestor = open_stream(data, IngestSettings(checkpoint_seconds=0), ops=fs)
    fs.full = True
    original, replay = (_Submitted(MutationBatch.of("s", 1, [Mutation("u1", MutationOp.ADD, "hobby", "x")]),
                                   concurrent.futures.Future()) for _ in range(2))
    ingestor._parts().writer._commit([original, replay])  # one group, as group commit would form it
    for item in (original, replay):
        with pytest.raises(StorageFullError):
            item.future.result()
    assert ingestor.offsets() == {}
    fs.full = False
    ingestor.close(checkpoint=False)


def test_a_batch_load_that_lands_under_a_checkpoint_is_not_lost(data: pathlib.Path, tmp_path: pathlib.Path) -> None:
    ingestor = start(data)
    ingestor.submit(MutationBatch.of("s", 0, [Mutation("u1", MutationOp.ADD, "hobby", "kept")])).result()
    pl.DataFrame({"user_id": ["u2"], "city": ["nightly"]}).write_parquet(tmp_path / "n.pq")
    load_tags([str(tmp_path / "n.pq")], data, shard_bits=6, cut_time=time.time())  # not reloaded yet
    ingestor.checkpoint()  # numbered after the load, written from a state without it
    assert ingestor.engine.count("city=nightly").count == 1  # the load is served
    assert ingestor.engine.count("city=a").count == 0  # the export is the truth for city as of its cut
    assert model_of(ingestor.engine).tags["hobby"]["kept"] == {"u1"}  # the stream kept on a carried dimension
    ingestor.close(checkpoint=False)
    reopened = Engine(data)  # the newest version on disk holds both
    assert reopened.count("city=nightly").count == 1 and model_of(reopened).tags["hobby"]["kept"] == {"u1"}


def test_a_bug_in_the_writer_is_not_reported_as_a_full_disk(data: pathlib.Path, monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    import dolphin.stream.group_commit as group_commit

    def broken(*args: object) -> None:
        raise RuntimeError("a bug in apply")

    fatal: list[BaseException] = []
    ingestor = open_stream(data, IngestSettings(checkpoint_seconds=0.0), on_fatal=fatal.append)
    monkeypatch.setattr(group_commit, "apply_batches", broken)
    with pytest.raises(RuntimeError, match="a bug in apply"):
        ingestor.submit(MutationBatch.of("s", 1, [Mutation("u1", MutationOp.ADD, "hobby", "p")])).result()
    assert len(fatal) == 1 and isinstance(fatal[0], RuntimeError)
    ingestor.close(checkpoint=False)


def test_a_checkpoint_written_before_typed_marks_recovers_from_its_log_position(data: pathlib.Path) -> None:
    """Versions from before the StreamMark format hold an untagged dict; recovery reads its position the same."""
    ingestor, base, batches = fresh(data, 3, 4, 12)
    acked(ingestor, batches[:2])
    version = ingestor.checkpoint().version
    acked(ingestor, batches[2:], first=2)
    ingestor.close(checkpoint=False)
    path = layout.versions_dir(data) / layout.version_name(version) / layout.MANIFEST
    raw = json.loads(path.read_bytes())
    raw["stream"] = {"wal_position": raw["stream"]["wal_position"], "offsets": raw["stream"]["offsets"]}
    path.write_text(json.dumps(raw))
    reopened = start(data)
    assert reopened.recovery is not None and reopened.recovery.replayed == 2  # from the position, not the start
    assert model_of(reopened.engine) == expected(base, batches) and reopened.offsets() == {"s": 3}
    reopened.close(checkpoint=False)


def test_acks_carry_the_version_and_sequence_of_the_state_that_shows_them(data: pathlib.Path) -> None:
    ingestor, _, batches = fresh(data, 4, 3, 5)
    [first] = acked(ingestor, batches[:1])
    snap = ingestor.engine.snapshot()
    assert (first.version, first.sequence) == (snap.version, snap.stream.sequence)
    version = ingestor.checkpoint().version  # the same state, served under a new version number
    [second] = acked(ingestor, batches[1:2], first=1)
    assert second.version == version > first.version and second.sequence == first.sequence + 1
    [again] = acked(ingestor, batches[1:2], first=1)  # a replay: skipped, acked with the state it found
    assert again.skipped and (again.version, again.sequence) == (second.version, second.sequence)
    ingestor.close(checkpoint=False)


def test_an_engine_built_with_an_adopter_is_loaded_by_it(data: pathlib.Path) -> None:
    ingestor = Ingestor(data)
    with pytest.raises(ValueError, match="load=False"):
        Engine(data, adopter=ingestor)
    engine = Engine(data, load=False, adopter=ingestor)
    assert not engine.ready  # nothing served until the stream has replayed its log
    ingestor.start(engine)
    assert engine.ready and engine.snapshot().data.path is not None
    ingestor.close(checkpoint=False)


def random_events(rng: random.Random, n: int) -> list[Mutation]:
    """Events over five days (in order, mostly), with tags and a few deletes mixed in."""
    out = []
    for _ in range(n):
        roll = rng.random()
        if roll < 0.8:
            day = f"2026-01-{rng.choice([1, 2, 3, 4, 5, 5, 5]):02d}"
            out.append(Mutation.event(rng.choice(USERS), rng.choice(["c1", "c2"]), rng.choice(["view", "click"]), day))
        elif roll < 0.95:
            out.append(Mutation(rng.choice(USERS), MutationOp.SET, "city", rng.choice(CITIES)))
        else:
            out.append(Mutation(rng.choice(USERS), MutationOp.DELETE_USER))
    return out


@pytest.mark.parametrize("keep_days", [0, 3])
def test_events_are_applied_once_and_survive_restarts_and_checkpoints(data: pathlib.Path, keep_days: int) -> None:
    ingestor = start(data, keep_days=keep_days)
    rng = random.Random(keep_days)
    batches = [random_events(rng, 30) for _ in range(20)]
    model = model_of(ingestor.engine)
    model.keep_days = keep_days
    acks = []
    for i, batch in enumerate(batches):
        before = {k for k, users in model.events.items() if users}
        model.apply_batch(batch)
        dropped = sum(1 for m in batch if m.op is MutationOp.ADD_EVENT and m.date < model.oldest)
        acks.append(ingestor.submit(MutationBatch.of("kafka/0", i, batch)).result())
        assert (acks[-1].dropped_events, acks[-1].applied) == (dropped, 30 - dropped), before
        if i == 9:
            ingestor.checkpoint()  # an incremental version in the middle: the log after it replays
    want = model.cleaned()
    assert model_of(ingestor.engine) == want
    assert bool(keep_days) == any(a.dropped_events for a in acks)
    again = ingestor.submit(MutationBatch.of("kafka/0", 5, batches[5])).result()
    assert again.skipped and model_of(ingestor.engine) == want  # exactly once
    ingestor.close(checkpoint=False)  # as after a crash: the checkpoint plus the log
    recovered = start(data, keep_days=keep_days)
    assert model_of(recovered.engine) == want and recovered.offsets() == {"kafka/0": 19}
    recovered.close()  # a shutdown checkpoint
    assert model_of(start(data, keep_days=keep_days).engine) == want


def test_an_events_load_replaces_its_days_and_keeps_streamed_events_of_other_days(data: pathlib.Path,
                                                                                    tmp_path: pathlib.Path) -> None:
    from loaders.events import load_events

    ingestor = start(data)
    engine = ingestor.engine
    ingestor.submit(MutationBatch.of("s", 0, [Mutation.event("u1", "c", "view", "2026-01-01"),
                                              Mutation.event("u2", "c", "view", "2026-01-02")])).result()
    time.sleep(0.02)
    cut = time.time()
    time.sleep(0.02)
    ingestor.submit(MutationBatch.of("s", 1, [Mutation.event("u3", "c", "view", "2026-01-01")])).result()
    # the nightly export of 2026-01-01, cut between the batches, does not have u1 (it was a bot, say)
    pl.DataFrame({"user_id": ["u9"], "campaign": ["c"], "event": ["view"], "date": ["2026-01-01"]}).write_parquet(
        tmp_path / "nightly.pq")
    load_events([str(tmp_path / "nightly.pq")], data, shard_bits=6, cut_time=cut)
    assert engine.reload().changed
    days = model_of(engine).events
    assert days[("c", "view", "2026-01-01")] == {"u9", "u3"}  # the load, plus the stream after its cut
    assert days[("c", "view", "2026-01-02")] == {"u2"}  # a day the load did not cover: the stream's
    want = model_of(engine)
    ingestor.close(checkpoint=False)
    assert model_of(start(data).engine) == want


def test_the_recovery_report_is_there_as_soon_as_the_recovered_state_is_served(data: pathlib.Path) -> None:
    ingestor, _, batches = fresh(data, 5, 4, 20)
    acked(ingestor, batches)
    ingestor.close(checkpoint=False)  # as after a crash: the 4 batches are in the log only
    reopened = Ingestor(data, IngestSettings(checkpoint_seconds=0.0))
    seen: list[int | None] = []

    class Watched(Engine):
        """An engine that notes what the ingestor reports when the recovered state is published."""

        def publish(self, snapshot: Snapshot, reason: str, defer_to: list[AbstractBitMap] | None = None) -> None:
            if reason == "recovery":  # a Status answered right after this must already say what was replayed
                seen.append(reopened.recovery.replayed if reopened.recovery is not None else None)
            super().publish(snapshot, reason, defer_to)

    engine = Watched(data, load=False, adopter=reopened)
    reopened.start(engine)
    assert seen == [4]
    reopened.close()
