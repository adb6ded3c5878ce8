"""`dolphin cluster serve`: start (or join) Ray, run one Shard actor per shard, and serve the front.

The front is the same DolphinServer as `dolphin serve` (services, reflection, health, auth, limits, metrics,
logs), given the cluster's engine and stream instead of a single node's. Shards serve on loopback-free
addresses Ray places them at, with the privacy floor and top-k caps off (the front applies them after merging),
without their own reloads (the front moves every shard to a new version at once) and with unknown names empty
(the front checks names over all shards).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import pathlib
import signal
import sys
from collections.abc import Callable
from typing import Any

import ray

from dolphin.cluster.channels import ShardChannels
from dolphin.cluster.engine import ALL_VALUES, ClusterEngine
from dolphin.cluster.lookalike import ClusterLookalike
from dolphin.cluster.shards import RunningShard, start_shards, stop_shards
from dolphin.cluster.stream import ClusterStream
from dolphin.config import Settings
from dolphin.engine.engine import EngineLimits
from dolphin.errors import DolphinError, InvalidArgumentError
from dolphin.server.app import DolphinServer, tune_server_process
from dolphin.storage import DimensionKind
from dolphin.storage.cluster_file import ClusterLayout, read_cluster

log = logging.getLogger("dolphin.cluster")

# settings a shard takes from the front as they are; the rest are the front's own (its port, TLS, tokens...)
SHARED_SETTINGS = ("shard_bits", "keep", "max_terms", "max_depth", "max_batch_expressions",
                   "max_overlap_expressions", "max_page_size", "max_lookalike_k", "lookalike_exact_pool",
                   "max_event_days", "read_cache_mb",
                   "max_message_bytes", "max_call_seconds", "default_call_seconds", "shutdown_grace", "log_format",
                   "slow_call_ms", "fsync", "checkpoint_seconds", "wal_retention_seconds", "wal_recovery",
                   "max_batch_mutations", "max_pending_bytes", "insecure")


def shard_settings(settings: Settings) -> dict[str, object]:
    """Return the settings every shard server runs with."""
    shared = {name: getattr(settings, name) for name in SHARED_SETTINGS if hasattr(settings, name)}
    return {**shared, "cluster_shard": True, "min_reportable_count": 0, "watch_seconds": 0, "port": 0,
            "max_top_k": ALL_VALUES, "max_profile_dimensions": ALL_VALUES,
            "max_expression_length": 64 * settings.max_expression_length,  # event() dates filled in
            "max_expensive_calls": 64 * settings.max_expensive_calls}  # the front limits its callers


@dataclasses.dataclass(slots=True)
class RunningCluster:
    """The shards and the front's engine and stream over them."""

    layout: ClusterLayout
    shards: list[RunningShard]
    engine: ClusterEngine
    stream: ClusterStream
    stop_wait: float  # seconds the shards get to answer, then to stop (shutdown grace, as for one server's checkpoint)

    def close(self) -> None:
        """Stop every shard cleanly and close the channels."""
        self.stream.close()
        stop_shards(self.shards, self.stop_wait)
        self.engine.close()


def kinds_of(engine: ClusterEngine) -> dict[str, DimensionKind]:
    """Return the kinds of every dimension some shard holds (what a batch is validated against)."""
    return {name: DimensionKind(kind) for name, kind in engine.names().kinds.items()}


def start_cluster(root: pathlib.Path, settings: Settings, *, cpus_per_shard: float = 1.0,
                  shard_host: str = "127.0.0.1") -> RunningCluster:
    """Start a data root's shards on the Ray this process is connected to; return the cluster once all serve."""
    layout = read_cluster(root)
    shards = start_shards(root, shard_settings(settings), host=shard_host, cpus_per_shard=cpus_per_shard)

    def where(shard: int) -> str:
        return str(ray.get(shards[shard].actor.address.remote(), timeout=2.0))

    channels = ShardChannels([s.target for s in shards], resolver=where)
    engine = ClusterEngine(channels, EngineLimits.from_settings(settings), str(root))
    engine.serve_newest()  # shards opened their pins, or their newest version when there were none yet
    stream = ClusterStream(channels, layout.id_type, lambda: kinds_of(engine), settings.max_batch_mutations,
                           settings.fsync, engine.forget_names)
    return RunningCluster(layout, shards, engine, stream, max(1.0, settings.shutdown_grace))


async def serve_front(settings: Settings, cluster: RunningCluster, stop: asyncio.Event,
                      on_serving: Callable[[int], None] | None = None) -> None:
    """Serve the front until stop is set, then drain; on_serving(port) is called once it serves."""
    server = DolphinServer(cluster.engine, settings, cluster.stream,
                           ClusterLookalike(cluster.engine, max_k=settings.max_lookalike_k))
    loop = asyncio.get_running_loop()
    if server.tokens is not None:
        loop.add_signal_handler(signal.SIGHUP, server.tokens.reload)
    if settings.metrics_port:
        server.observer.serve_http(settings.host, settings.metrics_port)
    await server.start()
    await server.after_reload()
    print(server.listening(f"dolphin cluster front over {cluster.layout.shards} shards listening"), flush=True)
    if on_serving is not None:
        on_serving(server.port)
    watcher = asyncio.create_task(server.watch_snapshots())
    await stop.wait()
    watcher.cancel()
    await server.stop(settings.shutdown_grace)


def cluster_serve(settings: Settings, root: pathlib.Path, *, shards: int | None, ray_address: str | None,
                  cpus_per_shard: float) -> int:
    """Run `dolphin cluster serve`; returns the exit status."""
    tune_server_process()
    try:
        layout = read_cluster(root)
        if shards is not None and shards != layout.shards:
            raise InvalidArgumentError(f"{root} has {layout.shards} shards, not {shards}; changing the count means "
                                       "loading into a new data root (README: Cluster)")
        init: dict[str, Any] = {"address": ray_address} if ray_address else {"include_dashboard": False}
        ray.init(**init, logging_level=logging.WARNING)
        cluster = start_cluster(root, settings, cpus_per_shard=cpus_per_shard,
                                shard_host=settings.host if ray_address else "127.0.0.1")
    except (OSError, DolphinError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve_front(settings, cluster, stop)

    try:
        asyncio.run(run())
    except (OSError, DolphinError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        cluster.close()
        ray.shutdown()
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    return 0
