"""A real local Ray for the cluster tests, started once (2 CPUs, no dashboard)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import pathlib
import threading
from collections.abc import Iterator
from typing import Any

import pytest

ray = pytest.importorskip("ray")  # the cluster extra; `dev` installs it, so CI always runs these


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


@dataclasses.dataclass
class Front:
    """A real cluster: 3 Shard actors on Ray and the front's gRPC server, over the ad world's data."""

    cluster: Any
    port: int
    root: pathlib.Path
    stop: Any
    http_port: int = 0  # with an http_port override: the front's HTTP/JSON API

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"


@contextlib.contextmanager
def running_front(root: pathlib.Path, **overrides: object) -> Iterator[Front]:
    """Serve a cluster root: its Shard actors on the session's Ray and a front in a thread, on a free port."""
    from dolphin.cluster.front import serve_front, start_cluster
    from dolphin.config import load_settings

    settings = load_settings({"port": 0, "watch_seconds": 0, "checkpoint_seconds": 0, "fsync": "none",
                              **overrides}, env={})
    cluster = start_cluster(root, settings, cpus_per_shard=0.25)  # Ray has 2 CPUs; test_shard needs 1
    started = threading.Event()
    port: list[int] = []
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    def serving(p: int) -> None:
        port.append(p)
        started.set()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(serve_front(settings, cluster, stop, serving))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        assert started.wait(60), "the front did not start"
        yield Front(cluster, port[0], root, stop, int(overrides.get("http_port", 0)))  # type: ignore[call-overload]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
        cluster.close()


def ad_world_root(ad_world: dict[str, object], root: pathlib.Path) -> pathlib.Path:
    """Load the ad world (tags, events, numeric fields) into a 3-shard cluster root."""
    from loaders.cluster import load_events_into_cluster, load_tags_into_cluster

    world = pathlib.Path(str(ad_world["root"]))
    load_tags_into_cluster([str(world / "tags.parquet")], root, shards=3, shard_bits=10)
    load_events_into_cluster([str(world / "events.parquet")], root, shard_bits=10)
    load_tags_into_cluster([str(world / "numbers.parquet")], root, shard_bits=10)
    return root


@pytest.fixture(scope="session")
def front(ray_session: None, ad_world: dict[str, object], tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[Front]:
    """The ad world loaded into 3 shards, served by a front on a free port (tests may stream into it)."""
    from tests.conftest import free_port

    root = ad_world_root(ad_world, tmp_path_factory.mktemp("cluster") / "root")
    with running_front(root, http_port=free_port()) as running:
        yield running


@pytest.fixture(scope="module")
def still_front(ray_session: None, ad_world: dict[str, object], tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[Front]:
    """The ad world on 3 shards that no test writes to: answers stay equal to the ad world's single node."""
    root = ad_world_root(ad_world, tmp_path_factory.mktemp("still-cluster") / "root")
    with running_front(root) as running:
        yield running
