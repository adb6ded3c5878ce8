"""Starting a data root's shards on Ray and finding their servers."""

from __future__ import annotations

import pathlib
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
    actors: list[Any] = [
        ShardActor.options(name=f"dolphin-shard-{shard:03d}", num_cpus=cpus_per_shard).remote(
            str(layout.shard_dir(root, shard)), host, dict(settings or {}))
        for shard in range(layout.shards)]
    targets = ray.get([actor.address.remote() for actor in actors])
    return [RunningShard(shard, actor, target) for shard, (actor, target) in enumerate(zip(actors, targets,
                                                                                            strict=True))]


def stop_shards(shards: list[RunningShard]) -> None:
    """Stop every shard's server cleanly, then end the actors."""
    ray.get([s.actor.stop.remote() for s in shards])
    for s in shards:
        ray.kill(s.actor, no_restart=True)
