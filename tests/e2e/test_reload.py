"""Reloads under continuous queries never fail or mix versions; SIGTERM drains in-flight calls."""

from __future__ import annotations

import pathlib
import threading
import time

import grpc
import pytest

from dolphin.client import Client
from dolphin.demo import generate
from dolphin.query import parse
from dolphin.v1 import audience_service_pb2 as pb
from loaders.tags import load_tags
from tests.conftest import SHARD_BITS, RunningServer, oracle_from_frame
from tests.strategies import brute_force

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
GOLDEN = ["gender=F AND interest=tennis", "city IN (Hangzhou, Shanghai) AND NOT vip=true", "NOT member_level=gold",
          "interest=running OR app_category=apps_001", "city NOT IN (Hangzhou)"]


def test_reload_under_load_is_atomic(tmp_path: pathlib.Path) -> None:
    frames = {"A": generate(3000, seed=7), "B": generate(3000, seed=8)}
    answers = {name: [len(brute_force(parse(e), oracle_from_frame(f))) for e in GOLDEN] for name, f in frames.items()}
    assert answers["A"] != answers["B"]
    for name, frame in frames.items():
        frame.write_parquet(tmp_path / f"{name}.parquet")
    data = tmp_path / "data"
    version_of: dict[int, str] = {}
    version_of[load_tags([str(tmp_path / "A.parquet")], data, shard_bits=SHARD_BITS, keep=50).version] = "A"
    server = RunningServer(data)
    stop = threading.Event()
    failures: list[str] = []
    checked = [0]

    def query() -> None:
        with Client(server.target) as client:
            while not stop.is_set():
                try:
                    response = client.audiences.BatchCount(pb.BatchCountRequest(expressions=GOLDEN), timeout=10)
                except grpc.RpcError as exc:
                    failures.append(f"{exc.code()}: {exc.details()}")  # type: ignore[attr-defined]
                    continue
                expected = answers[version_of[response.snapshot_version]]
                if list(response.counts) != expected:
                    failures.append(f"mixed answer at version {response.snapshot_version}")
                checked[0] += 1

    threads = [threading.Thread(target=query) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        with Client(server.target) as admin:
            for i in range(12):
                name = "B" if i % 2 == 0 else "A"
                report = load_tags([str(tmp_path / f"{name}.parquet")], data, shard_bits=SHARD_BITS, keep=50)
                version_of[report.version] = name
                if i % 3 == 0:
                    assert admin.reload().snapshot_version == report.version
                else:
                    deadline = time.monotonic() + 10
                    while admin.status().snapshot_version != report.version:
                        assert time.monotonic() < deadline, "the watcher never picked up the new version"
                        time.sleep(0.05)
                time.sleep(0.1)
    finally:
        stop.set()
        for t in threads:
            t.join()
        assert server.stop() == 0
    assert not failures, failures[:5]
    assert checked[0] > 50


def test_sigterm_drains_an_export(loaded_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    import shutil

    shutil.copytree(loaded_dir, tmp_path / "data")
    server = RunningServer(tmp_path / "data")
    pages: list[int] = []
    with Client(server.target) as client:
        stream = client.export_pages("ALL", page_size=1)
        pages.append(len(next(stream).user_ids))
        started = time.monotonic()
        server.proc.terminate()
        pages.extend(len(p.user_ids) for p in stream)
    assert server.proc.wait(timeout=30) == 0
    server.stop()
    assert sum(pages) == 3000 and time.monotonic() - started < 25
