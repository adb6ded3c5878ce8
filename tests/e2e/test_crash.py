"""R1: a producer streams through dolphin.sink while the server is SIGKILLed again and again, at random moments and
at every named failpoint (mid-write, mid-fsync, mid-checkpoint); at the end every batch is applied exactly once.
Checkpoints run every 0.4 s over a large batch-loaded base, so incremental versions chain across lives."""

from __future__ import annotations

import os
import pathlib
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from dolphin.client import Client
from dolphin.sink import Sink
from dolphin.stream.batches import Mutation, MutationOp
from tests.engine.model import Model

pytestmark = pytest.mark.e2e
SOURCES = 4
USERS = 20_000
TAGS = 50
BATCHES_PER_SOURCE = 500  # 2,000 batches
BATCH = 100  # 200,000 mutations
FAILPOINTS = ["wal.before_write", "wal.after_write_before_fsync", "wal.after_fsync_before_apply",
              "wal.after_apply_before_ack", "ckpt.after_files_before_manifest",
              "ckpt.after_manifest_rename_before_dirsync", "ckpt.before_wal_truncate"]
MIN_KILLS = int(os.environ.get("DOLPHIN_CRASH_KILLS", "20"))  # CI 20; a nightly run sets 200
# a batch-loaded base the stream never touches, big enough that checkpoints take the overlay path (the stream's
# tags stay under a quarter of its bytes) and incremental versions chain across lives (issue 15)
BASE_USERS, BASE_DIMS, BASE_VALUES = 600_000, 3, 8


def mutations_of(source: int, rng: random.Random) -> list[Mutation]:
    """The seeded change stream of one source; a source owns the users congruent to it, so sources never race."""
    out = []
    for _ in range(BATCHES_PER_SOURCE * BATCH):
        user = f"u{rng.randrange(USERS // SOURCES) * SOURCES + source}"
        roll = rng.random()
        if roll < 0.45:
            out.append(Mutation(user, MutationOp.ADD, "tag", f"t{rng.randrange(TAGS)}"))
        elif roll < 0.8:
            out.append(Mutation(user, MutationOp.REMOVE, "tag", f"t{rng.randrange(TAGS)}"))
        elif roll < 0.99:
            out.append(Mutation(user, MutationOp.SET, "tier", f"level{rng.randrange(5)}"))
        else:
            out.append(Mutation(user, MutationOp.DELETE_USER))
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Life:
    """One run of the server process on the fixed port, optionally armed with a failpoint."""

    def __init__(self, data: pathlib.Path, port: int, failpoint: str | None, log: pathlib.Path) -> None:
        self.failpoint = failpoint.split("=")[0] if failpoint else None
        env = {**os.environ}
        env.pop("DOLPHIN_FAILPOINTS", None)
        if failpoint:
            env["DOLPHIN_FAILPOINTS"] = failpoint
        with open(log, "a") as fh:
            fh.write(f"--- life with failpoint {failpoint}\n")
            fh.flush()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "dolphin", "serve", "--data-dir", str(data), "--port", str(port),
                 "--checkpoint-seconds", "0.4", "--wal-retention-seconds", "0", "--watch-seconds", "0"],
                stdout=subprocess.DEVNULL, stderr=fh, env=env)

    def kill(self) -> bool:
        """SIGKILL the process (an armed one gets time to die at its failpoint); True when it died there."""
        if self.failpoint:
            try:
                self.proc.wait(timeout=4)
            except subprocess.TimeoutExpired:
                pass
        died_alone = self.proc.poll() is not None
        if not died_alone:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        return died_alone and self.proc.returncode == -signal.SIGKILL


@pytest.fixture
def reaped() -> Iterator[list[Life]]:
    """Lives started by a test; any still running at teardown is killed, whatever the test's outcome."""
    lives: list[Life] = []
    yield lives
    for life in lives:
        if life.proc.poll() is None:
            life.proc.kill()
            life.proc.wait()


def test_crash_loop_applies_every_batch_exactly_once(tmp_path: pathlib.Path, reaped: list[Life]) -> None:
    data, log = tmp_path / "data", tmp_path / "server.log"
    port = free_port()
    rng = random.Random(20261125)
    streams = [mutations_of(s, random.Random(s)) for s in range(SOURCES)]
    kills, offsets_seen = 0, {f"s{s}": -1 for s in range(SOURCES)}
    self_kills: set[str] = set()
    done = threading.Event()
    armed_left = threading.Event()  # set once every failpoint has killed the server at least once
    filler: list[Mutation] = []  # extra traffic after the stream ends, until then (one user of its own)
    producer_error: list[BaseException] = []
    base_users = load_base(tmp_path)
    life = Life(data, port, None, log)
    reaped.append(life)

    with Client(f"127.0.0.1:{port}", timeout=5) as client:
        sink = Sink(client, batch_size=BATCH, max_in_flight=8, max_backoff_seconds=0.2, keep_history=True)

        def produce() -> None:
            try:
                for j in range(BATCHES_PER_SOURCE):
                    for s in range(SOURCES):
                        for k, m in enumerate(streams[s][j * BATCH : (j + 1) * BATCH]):
                            sink.write(f"s{s}", j * BATCH + k, m.user_id, int(m.op), m.dimension, m.value)
                    time.sleep(0.01)  # a steady producer, so that the run spans many lives
                while not armed_left.is_set():  # keep failpoints reachable: they need writes and checkpoints
                    m = Mutation("zz-filler", MutationOp.ADD, "filler", f"v{len(filler) % 7}")
                    sink.write("filler", len(filler), m.user_id, int(m.op), m.dimension, m.value)
                    filler.append(m)
                    time.sleep(0.002)
                sink.flush()
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                producer_error.append(exc)
            finally:
                done.set()

        producer = threading.Thread(target=produce, daemon=True)
        producer.start()
        while not done.is_set() or kills < MIN_KILLS:
            time.sleep(rng.uniform(0.3, 1.2))
            if life.kill() and life.failpoint:
                self_kills.add(life.failpoint)
            kills += 1
            missing = sorted(set(FAILPOINTS) - self_kills)
            if not missing:
                armed_left.set()
            armed = None
            if missing and rng.random() < 0.6:  # random kills in between, failpoints until each has fired
                point = rng.choice(missing)
                armed = f"{point}=kill@{1 if point.startswith('ckpt') else rng.randrange(1, 4)}"
            life = Life(data, port, armed, log)
            reaped.append(life)
            for source, offset in _offsets(client, life).items():
                assert offset >= offsets_seen.get(source, -1), "GetOffsets went backwards"
                offsets_seen[source] = offset
            if kills > 2 * MIN_KILLS + 100:
                break
        producer.join(timeout=120)
        assert not producer_error, producer_error[0]
        stored = {k: v for k, v in client.get_offsets().items() if k != "filler"}
        history = list(sink.stats.history)
        sink.close()
        snapshot = _state(client)
    life.proc.send_signal(signal.SIGTERM)
    life.proc.wait(timeout=60)

    assert kills >= MIN_KILLS
    assert stored == {f"s{s}": BATCHES_PER_SOURCE * BATCH - 1 for s in range(SOURCES)}, stored
    acked = {(source, offset) for source, offset, status in history if status in ("ok", "skipped", "resumed")}
    assert len({a for a in acked if a[0] != "filler"}) == SOURCES * BATCHES_PER_SOURCE  # acked, or shown applied
    model = Model()
    for m in [*(m for s in range(SOURCES) for m in streams[s]), *filler]:  # sources never share a user
        model.apply(m)
    want = model.cleaned()
    assert snapshot == (want.population, want.tags["tag"], want.tags["tier"], base_users)
    assert self_kills == set(FAILPOINTS), (self_kills, log.read_text()[-3000:])
    chained = re.findall(r"checkpoint: version \d+ at log position \d+ \(incremental", log.read_text())
    assert len(chained) >= 5, "checkpoints never chained incremental versions"


def load_base(root: pathlib.Path) -> int:
    """Batch-load the base dimensions (d0..d2, each 8 values over BASE_USERS); return its user count."""
    import numpy as np
    import polars as pl

    from loaders.tags import load_tags

    rng = np.random.default_rng(3)
    frame = pl.DataFrame({"user_id": [f"b{i}" for i in range(BASE_USERS)]}).with_columns(
        pl.Series(f"d{d}", rng.integers(0, BASE_VALUES, BASE_USERS).astype(str)) for d in range(BASE_DIMS))
    frame.write_parquet(root / "base.parquet")
    load_tags([str(root / "base.parquet")], root / "data")
    return BASE_USERS


def _offsets(client: Client, life: Life) -> dict[str, int]:
    """Return GetOffsets of this life, or nothing when it died first (an armed failpoint can fire at once)."""
    for _ in range(100):
        if life.proc.poll() is not None:
            return {}
        try:
            return client.get_offsets(timeout=2)
        except Exception:  # noqa: BLE001 - the server is still starting
            time.sleep(0.1)
    raise AssertionError("the server never answered GetOffsets")


def _state(client: Client) -> tuple[set[str], dict[str, set[str]], dict[str, set[str]], int]:
    """Return the served stream population, every stream tag's users, exported in full, and the base's count."""
    tags = {f"t{i}": set(client.export(f"tag=t{i}", page_size=10000)) for i in range(TAGS)}
    tiers = {f"level{i}": set(client.export(f"tier=level{i}", page_size=10000)) for i in range(5)}
    base = " OR ".join(f"d{d} IN ({', '.join(str(v) for v in range(BASE_VALUES))})" for d in range(BASE_DIMS))
    return (set(client.export(f"ALL AND NOT ({base})", page_size=10000)), {k: v for k, v in tags.items() if v},
            {k: v for k, v in tiers.items() if v}, client.count(base))


def test_a_loader_killed_before_its_manifest_leaves_the_old_version(data_copy: pathlib.Path,
                                                                    tmp_path: pathlib.Path) -> None:
    import polars as pl

    from dolphin.storage import layout

    before = layout.list_versions(data_copy)
    pl.DataFrame({"user_id": [1, 2], "city": ["x", "y"]}).write_parquet(tmp_path / "in.parquet")
    cmd = [sys.executable, "-m", "dolphin", "load", "tags", str(tmp_path / "in.parquet"), "--data-dir",
           str(data_copy)]
    killed = subprocess.run(cmd, env={**os.environ, "DOLPHIN_FAILPOINTS": "load.before_manifest=kill"},
                            capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL
    assert layout.list_versions(data_copy) == before  # the half-written version is invisible
    assert list(layout.versions_dir(data_copy).glob(".tmp-*"))  # and left as a temporary directory
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert layout.list_versions(data_copy)[-1] == before[-1] + 1
    assert not list(layout.versions_dir(data_copy).glob(".tmp-*"))  # cleaned by the next writer
