"""Cluster loads as Ray tasks: every shard's load at once, spread over the Ray cluster's nodes.

`loaders.cluster` splits the input and decides what a shard's load is; this module only runs those loads where
Ray places them (the data root must be on storage every node sees) and reports each as it finishes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import ray

from dolphin.errors import PreconditionError

Progress = Callable[[int, int, str], None]
Outcome = Callable[[list[str], str], Any]


def on_ray(address: str, *, cpus: float = 1.0) -> Callable[[Outcome, list[list[str]], list[str], Progress | None],
                                                            list[Any]]:
    """Return a run_all for `loaders.cluster.ShardRunner` that loads each shard as a Ray task at address.

    Joins the Ray cluster now, so that a wrong address fails before the input is split.
    """
    if not ray.is_initialized():
        try:
            ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
        except (ConnectionError, RuntimeError) as exc:
            raise PreconditionError(f"cannot join the Ray cluster at {address}: {exc} (with a `ray start` head, "
                                    "set RAY_AUTH_MODE=token: README, A cluster on many machines)") from exc

    def run_all(outcome: Outcome, parts: list[list[str]], dirs: list[str], progress: Progress | None) -> list[Any]:
        task: Any = ray.remote(num_cpus=cpus, max_retries=0)(_run)
        pending = {task.options(scheduling_strategy="SPREAD").remote(outcome, part, shard_dir): k
                   for k, (part, shard_dir) in enumerate(zip(parts, dirs, strict=True))}
        outcomes: list[Any] = [None] * len(parts)
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            shard = pending.pop(ready[0])
            try:
                outcomes[shard] = ray.get(ready[0])
            except ray.exceptions.RayError as exc:  # the task's worker died: an outcome like a failed load, so
                outcomes[shard] = exc  # the caller still removes the versions the other shards committed
            if progress is not None:
                progress(len(parts) - len(pending), len(parts), f"shard {shard} loaded (Ray task)")
        return outcomes

    return run_all


def _run(outcome: Outcome, parts: list[str], shard_dir: str) -> Any:
    return outcome(parts, shard_dir)
