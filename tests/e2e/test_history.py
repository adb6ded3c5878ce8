"""R17: many server lives over one data dir, checked against a set model after every life.

A crash test that checks only the last recovery misses a checkpoint chain that forgets what an earlier link
carried (issue 15: an incremental checkpoint written after a restart from an incremental version dropped the
tags of its base's overlay). So every life here starts the real server, checks the whole history so far, streams,
mixes forced checkpoints, batch loads of another dimension and Reloads, and ends by SIGTERM or SIGKILL. Most
lives touch only small tags, so that checkpoints take the overlay path (a big tag forces a full version).
"""

from __future__ import annotations

import os
import pathlib
import random
import signal
import subprocess
import sys

import polars as pl
import pytest

from dolphin.client import Client
from dolphin.storage import layout
from dolphin.storage.reader import read_manifest
from dolphin.stream.batches import Mutation, MutationOp
from dolphin.v1 import ingest_service_pb2 as ing_pb
from tests.conftest import RunningServer
from tests.engine.model import Model

pytestmark = pytest.mark.e2e
LIVES = int(os.environ.get("DOLPHIN_HISTORY_LIVES", "6"))  # CI 6; a nightly run sets 50
STABLE = [f"u{i}" for i in range(300)]  # in every batch load, never deleted by the stream
MORTAL = [f"u{i}" for i in range(300, 600)]  # loaded once; the stream may delete them
NEWCOMERS = [f"n{i}" for i in range(80)]  # created by the stream
CITIES = [f"c{i}" for i in range(10)]
M_VALUES = [f"m{i}" for i in range(120)]  # small multi-valued tags: a life retouches only a few of them
S_VALUES = [f"s{i}" for i in range(30)]  # small single-valued tags
REGIONS = [f"r{i}" for i in range(5)]
SINGLE = {"gender", "city", "s", "region"}


def initial_load(root: pathlib.Path, rng: random.Random) -> Model:
    users = STABLE + MORTAL
    frame = pl.DataFrame({"user_id": users, "gender": [rng.choice("MF") for _ in users],
                          "city": [rng.choice(CITIES) for _ in users]})
    frame.write_parquet(root / "users.parquet")
    _cli("load", "tags", str(root / "users.parquet"), "--data-dir", str(root / "data"))
    model = Model(set(users), {"gender": {}, "city": {}})
    for user, gender, city in frame.iter_rows():
        model.tags["gender"].setdefault(gender, set()).add(user)
        model.tags["city"].setdefault(city, set()).add(user)
    return model


def life_mutations(rng: random.Random, big: bool) -> list[Mutation]:
    """One batch: mostly small tags; a big life also sets gender or deletes users (a full checkpoint)."""
    out = []
    for _ in range(rng.randrange(2, 6)):
        user = rng.choice(STABLE + MORTAL + NEWCOMERS)
        roll = rng.random()
        if roll < 0.55:
            out.append(Mutation(user, rng.choice([MutationOp.ADD, MutationOp.ADD, MutationOp.REMOVE]), "m",
                                rng.choice(M_VALUES)))
        else:
            out.append(Mutation(user, MutationOp.SET, "s", rng.choice(S_VALUES)))
    if big:
        if rng.random() < 0.5:
            out.append(Mutation(rng.choice(STABLE), MutationOp.SET, "gender", rng.choice("MF")))
        else:
            out.append(Mutation(rng.choice(MORTAL + NEWCOMERS), MutationOp.DELETE_USER))
    return out


def stream(client: Client, source: str, start: int, batches: list[list[Mutation]]) -> None:
    """Send batches (offsets start, start + 1, ...) and wait until each is acknowledged."""
    requests = [ing_pb.MutationBatch(source=source, offset=start + i, mutations=[
        ing_pb.Mutation(user_id=m.user_id, op=int(m.op), dimension=m.dimension, value=m.value) for m in batch])
        for i, batch in enumerate(batches)]
    acks = list(client.mutate(iter(requests)))
    assert [(a.offset, a.skipped) for a in acks] == [(start + i, False) for i in range(len(batches))]


def batch_load_region(root: pathlib.Path, target: str, rng: random.Random, model: Model, n: int) -> None:
    """Load `region` (never streamed) for the stable users from a fresh file, and ask the server to reload."""
    regions = [rng.choice(REGIONS) for _ in STABLE]
    path = root / f"region-{n}.parquet"
    pl.DataFrame({"user_id": STABLE, "region": regions}).write_parquet(path)
    _cli("load", "tags", str(path), "--data-dir", str(root / "data"), "--reload", target)
    model.tags["region"] = {}
    for user, region in zip(STABLE, regions, strict=True):
        model.tags["region"].setdefault(region, set()).add(user)


def check(client: Client, model: Model, when: str) -> None:
    """Every tag the model knows, ALL, and each dimension's union equal the model; the answers agree."""
    want = model.cleaned()
    population = set(client.export("ALL", page_size=10_000))
    assert population == want.population, f"{when}: ALL differs by {len(population ^ want.population)} users"
    expressions, expected = [], []
    for dimension, values in model.tags.items():
        for value, users in values.items():
            got = set(client.export(f'{dimension}="{value}"', page_size=10_000))
            assert got == users, (f"{when}: {dimension}={value}: {len(got - users)} extra, "
                                  f"{len(users - got)} missing")
            expressions += [f'{dimension}="{value}" AND ALL']
            expected += [len(users)]
        union = set().union(*values.values()) if values else set()
        listed = ", ".join(f'"{v}"' for v in values)
        if listed:
            expressions += [f"{dimension} IN ({listed})"]
            expected += [len(union)]
    counts = client.batch_count(expressions)
    wrong = [e for e, c, x in zip(expressions, counts, expected, strict=True) if c != x]
    assert not wrong, f"{when}: counts differ: {wrong}"
    total = client.count("ALL")
    for dimension in SINGLE & set(model.tags):
        per_value = client.batch_count([f'{dimension}="{v}"' for v in model.tags[dimension]])
        assert sum(per_value) <= total, f"{when}: {dimension}'s values sum to {sum(per_value)} > ALL {total}"


def test_many_lives_keep_every_acknowledged_mutation(tmp_path: pathlib.Path) -> None:
    rng = random.Random(20261201)
    model = initial_load(tmp_path, rng)
    data = tmp_path / "data"
    offset = loads = incremental_on_incremental = 0
    endings = []
    for life in range(LIVES + 1):
        server = RunningServer(data, "--checkpoint-seconds", "0")
        try:
            with Client(server.target, timeout=10) as client:
                check(client, model, f"start of life {life} (after {endings})")
                if life == LIVES:
                    break
                big = life % 3 == 2  # most lives take the overlay path
                steps = ["stream", "stream", "checkpoint", "stream", "reload"]
                if life % 3 == 1:
                    steps.insert(rng.randrange(len(steps)), "load")
                rng.shuffle(steps)
                for step in steps:
                    if step == "stream":
                        batches = [life_mutations(rng, big) for _ in range(rng.randrange(1, 4))]
                        stream(client, "history", offset, batches)
                        offset += len(batches)
                        for batch in batches:
                            for m in batch:
                                model.apply(m)
                    elif step == "checkpoint":
                        client.checkpoint()
                        incremental_on_incremental += _chains(data)
                    elif step == "load":
                        batch_load_region(tmp_path, server.target, rng, model, loads)
                        loads += 1
                    else:
                        client.reload()
                check(client, model, f"end of life {life} (steps {steps})")
        finally:
            ending = rng.choice(["SIGTERM", "SIGKILL"]) if life < LIVES else "SIGTERM"
            if ending == "SIGKILL":
                server.proc.send_signal(signal.SIGKILL)
                server.proc.wait()
            else:
                assert server.stop() == 0, server.log()[-2000:]
            if server.proc.stdout:
                server.proc.stdout.close()
            endings.append(ending)
        incremental_on_incremental += _chains(data)
    assert loads >= 2 and {"SIGTERM", "SIGKILL"} <= set(endings[:-1]), endings
    assert incremental_on_incremental > 0, "no incremental version was built on an incremental one"


def _chains(data: pathlib.Path) -> int:
    """Return 1 when the newest version is incremental over an incremental version (a chain), else 0."""
    versions = layout.list_versions(data)
    if len(versions) < 2:
        return 0
    newest, before = (read_manifest(layout.versions_dir(data) / layout.version_name(v)) for v in versions[-2:][::-1])
    return int(newest.overlay is not None and before.overlay is not None)


def test_one_add_per_life_survives_graceful_restarts(tmp_path: pathlib.Path) -> None:
    """The issue's reproduction with the CLI and default settings: life 3 still counts life 1's ADD."""
    pl.DataFrame({"uid": [str(i) for i in range(1000)], "gender": ["M", "F"] * 500}).write_parquet(
        tmp_path / "users.parquet")
    data = tmp_path / "data"
    _cli("load", "tags", str(tmp_path / "users.parquet"), "--data-dir", str(data), "--id-column", "uid")
    changes = {"a": ("5", 1), "b": ("6", 2)}
    for name, (user, offset) in changes.items():
        (tmp_path / f"{name}.jsonl").write_text(
            f'{{"user_id":"{user}","op":"add","dimension":"m","value":"{name}","source":"s","offset":{offset}}}\n')
    counts = []
    for life, change in enumerate(["a", "b", None]):
        server = RunningServer(data, wait=True)
        try:
            if life:
                counts.append([_cli("query", "count", f"m={v}", "--target", server.target).strip() for v in "ab"])
            if change:
                _cli("stream", str(tmp_path / f"{change}.jsonl"), "--target", server.target)
        finally:
            assert server.stop() == 0
    assert counts == [["1", "0"], ["1", "1"]]


def _cli(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "dolphin", *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"dolphin {' '.join(args)}: {done.stderr[-2000:]}"
    return done.stdout
