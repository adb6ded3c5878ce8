"""Starting a data root's shards on Ray and finding their servers."""

from __future__ import annotations

import hashlib
import logging
import pathlib
import time
from dataclasses import dataclass
from typing import Any

import ray

from dolphin.cluster.shard import ShardActor
from dolphin.storage.cluster_file import read_cluster

log = logging.getLogger("dolphin.cluster")


@dataclass(frozen=True, slots=True)
class RunningShard:
    """One started shard: its number, its actor and its server's address."""

    shard: int
    actor: Any  # ray.actor.ActorHandle of ShardActor
    target: str


def start_shards(root: pathlib.Path, settings: dict[str, object] | None = None, *, host: str = "127.0.0.1",
                 cpus_per_shard: float = 1.0) -> list[RunningShard]:
    """Start one ShardActor per shard of a data root (Ray must be initialised); return them once all serve."""
    layout = read_cluster(root)
    # actor names are global in a Ray namespace: two clusters (two data roots) on one Ray must not collide
    tag = hashlib.blake2b(str(root.resolve()).encode(), digest_size=4).hexdigest()
    actors: list[Any] = [
        ShardActor.options(name=f"dolphin-{tag}-shard-{shard:03d}", num_cpus=cpus_per_shard).remote(
            str(layout.shard_dir(root, shard)), host, dict(settings or {}))
        for shard in range(layout.shards)]
    targets = ray.get([actor.address.remote() for actor in actors])
    return [RunningShard(shard, actor, target) for shard, (actor, target) in enumerate(zip(actors, targets,
                                                                                            strict=True))]


def actor_pid(shard: RunningShard, timeout: float = 120.0) -> int:
    """Return the shard actor's process ID, waiting while Ray restarts it (its server may answer a little sooner);
    raises a ray GetTimeoutError or RayActorError when it has not answered within timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return int(ray.get(shard.actor.pid.remote(), timeout=max(0.05, deadline - time.monotonic())))
        except ray.exceptions.ActorUnavailableError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def stop_shards(shards: list[RunningShard], wait: float) -> None:
    """Stop every shard's server cleanly (drain and checkpoint), then end the actors. Shards get wait seconds in all
    to answer, then wait seconds to stop; the rest are only ended, as after a crash (their logs replay at the next
    start), like a single server's shutdown checkpoint bounded by its shutdown grace."""
    # A SIGTERM to the front's process group reaches the shard workers and the raylet too: a shard that died with
    # them is never restarted, and waiting for it without a bound held `dolphin cluster serve` 20-60 s past SIGTERM.
    deadline = time.monotonic() + wait
    answering = []
    for shard in shards:
        try:
            actor_pid(shard, timeout=max(0.0, deadline - time.monotonic()))  # a restarting shard finishes first
            answering.append(shard)
        except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError) as exc:
            log.warning("shard %d did not answer at stop (%s); ending it", shard.shard, type(exc).__name__)
    try:
        ray.get([s.actor.stop.remote() for s in answering], timeout=wait)
    except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError) as exc:
        log.warning("a shard did not stop cleanly within %.0f s (%s); ending it", wait, type(exc).__name__)
    for s in shards:
        ray.kill(s.actor, no_restart=True)
