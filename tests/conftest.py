"""Shared fixtures: a generated population, a loaded data dir, an engine, and real servers on free ports."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import polars as pl
import pytest
from hypothesis import HealthCheck, settings

from dolphin.demo import generate
from dolphin.engine import Engine
from loaders.tags import load_tags

settings.register_profile("dev", max_examples=60, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", max_examples=200, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("DOLPHIN_HYPOTHESIS_PROFILE", "dev"))

SHARD_BITS = 9  # tiny ranges, so every test crosses shard boundaries
N_USERS = 3000


@dataclass
class Oracle:
    """Brute-force truth from the raw frame: external IDs per tag, as Python sets."""

    population: set[str]
    tags: dict[tuple[str, str], set[str]]
    kinds: dict[str, str]

    def tag(self, dimension: str, value: str) -> set[str]:
        return self.tags.get((dimension, value), set())

    def any_of(self, dimension: str) -> set[str]:
        out: set[str] = set()
        for (d, _), users in self.tags.items():
            if d == dimension:
                out |= users
        return out


def with_file_size_limit(argv: list[str], limit: int) -> list[str]:
    """Return argv run under RLIMIT_FSIZE = limit bytes, set by a small exec trampoline.

    Not preexec_fn: that makes subprocess fork the test process, whose gRPC threads then log epoll errors from
    the child into the stderr a test reads ("skipping fork() handlers")."""
    trampoline = ("import os, resource, sys; resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]),) * 2); "
                  "os.execv(sys.argv[2], sys.argv[2:])")
    return [sys.executable, "-c", trampoline, str(limit), *argv]


def text_of(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def oracle_from_frame(frame: pl.DataFrame, id_column: str = "user_id") -> Oracle:
    tags: dict[tuple[str, str], set[str]] = {}
    kinds: dict[str, str] = {}
    for column in frame.columns:
        if column == id_column:
            continue
        multi = isinstance(frame.schema[column], pl.List)
        kinds[column] = "multi" if multi else "single"
        for user, value in zip(frame[id_column].to_list(), frame[column].to_list(), strict=True):
            for v in (value or []) if multi else ([] if value is None else [value]):
                tags.setdefault((column, text_of(v)), set()).add(str(user))
    return Oracle({str(u) for u in frame[id_column].to_list()}, tags, kinds)


@pytest.fixture(scope="session")
def frame() -> pl.DataFrame:
    return generate(N_USERS, seed=7)


@pytest.fixture(scope="session")
def oracle(frame: pl.DataFrame) -> Oracle:
    return oracle_from_frame(frame)


@pytest.fixture(scope="session")
def loaded_dir(tmp_path_factory: pytest.TempPathFactory, frame: pl.DataFrame) -> pathlib.Path:
    root = tmp_path_factory.mktemp("loaded")
    frame.write_parquet(root / "users.parquet")
    load_tags([str(root / "users.parquet")], root / "data", shard_bits=SHARD_BITS)
    return root / "data"


@pytest.fixture
def data_copy(loaded_dir: pathlib.Path, tmp_path: pathlib.Path) -> pathlib.Path:
    """A private copy of the loaded data dir, for tests that change it."""
    target = tmp_path / "data"
    shutil.copytree(loaded_dir, target)
    return target


@pytest.fixture(scope="session")
def engine(loaded_dir: pathlib.Path) -> Engine:
    return Engine(loaded_dir)


@pytest.fixture(scope="session")
def ad_world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Generated users and campaign events with a known effect (tests.worlds), loaded once."""
    from tests.worlds import build_ad_world

    return build_ad_world(tmp_path_factory.mktemp("adeffect"))


@pytest.fixture(scope="session")
def ad_engine(ad_world: dict[str, object]) -> Engine:
    return Engine(ad_world["data"])  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The clustered embedding world of the lookalike tests (tests.worlds), loaded once."""
    from tests.worlds import build_lookalike_world

    return build_lookalike_world(tmp_path_factory.mktemp("lookalike"))


class RunningServer:
    """A real `dolphin serve` process on a free loopback port."""

    def __init__(self, data_dir: pathlib.Path, *extra: str, wait: bool = True,
                 env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.log_path = data_dir.parent / f"server-{id(self)}.log"
        cmd = [sys.executable, "-m", "dolphin", "serve", "--data-dir", str(data_dir), "--port", "0",
               "--watch-seconds", "0.2", *extra]
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True,
                                         env={**os.environ, **(env or {})})
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if "listening on" not in line:
            self.stop()
            raise RuntimeError(f"server did not start: {line!r} {self.log()}")
        self.target = line.strip().rsplit(" ", 1)[-1]
        self.port = int(self.target.rsplit(":", 1)[1])
        self.http_url = ""  # with --http-port: the API's base URL, from the line after the gRPC one
        if "--http-port" in extra and extra[list(extra).index("--http-port") + 1] != "0":
            self.http_url = self.proc.stdout.readline().strip().rsplit(" ", 1)[-1].rstrip("/")
        if wait:
            self.wait_serving()

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def wait_serving(self, timeout: float = 30.0) -> None:
        import time

        import grpc
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        end = time.monotonic() + timeout
        with grpc.insecure_channel(self.target) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() < end:
                try:
                    response = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1)
                    if response.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.RpcError:
                    pass
                time.sleep(0.05)
        raise RuntimeError("server never became SERVING")

    def stop(self) -> int:
        self.proc.terminate()
        try:
            return self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            if self.proc.stdout:
                self.proc.stdout.close()


def free_port() -> int:
    """Return a loopback port that was free a moment ago (for ports that 0 would turn off)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, loaded_dir: pathlib.Path) -> Iterator[RunningServer]:
    data = tmp_path_factory.mktemp("served") / "data"
    shutil.copytree(loaded_dir, data)
    running = RunningServer(data)
    yield running
    running.stop()


@pytest.fixture(scope="session")
def client(server: RunningServer) -> Iterator[object]:
    from dolphin.client import Client

    with Client(server.target) as c:
        yield c
