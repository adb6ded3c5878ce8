"""Starting a data root's shards on Ray and finding their servers."""

from __future__ import annotations

import hashlib
import pathlib
import time
from dataclasses import dataclass
from typing import Any

import ray

from dolphin.cluster.shard import ShardActor
from dolphin.storage.cluster_file import read_cluster


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
    """Return the shard actor's process ID, waiting while Ray restarts it (its server may answer a little sooner)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return int(ray.get(shard.actor.pid.remote()))
        except ray.exceptions.ActorUnavailableError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def stop_shards(shards: list[RunningShard]) -> None:
    """Stop every shard's server cleanly, then end the actors."""
    for shard in shards:
        actor_pid(shard)  # a shard Ray is restarting finishes its start first
    ray.get([s.actor.stop.remote() for s in shards])
    for s in shards:
        ray.kill(s.actor, no_restart=True)
