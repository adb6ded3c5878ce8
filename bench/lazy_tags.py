"""What lazy tags would cost, for one single-valued dimension at 10M users (issue 14, tenth pass; not built).

    python bench/lazy_tags.py

A lazy single-valued dimension keeps its tags as they were at a base, plus an overlay: the users moved since the
base, and per value which of them are in it now. A read builds a tag as (base - moved) | now[value]; a stream
group updates the overlay instead of rewriting every value. This times, over a 1.75M-user tag (like Hangzhou) and
400 Zipf values: a read's build of that tag, the overlay's upkeep for one group of 2,000 SETs, and today's rewrite
of the tag, for overlays of 2,000, 20,000 and 200,000 moved users.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from pyroaring import FrozenBitMap

USERS = 10_000_000
VALUES = 400
GROUP_SETS = 2_000


def bitmap(ids: np.ndarray) -> FrozenBitMap:
    """Return a frozen bitmap of distinct IDs, not run-optimised (as the stream's are)."""
    return FrozenBitMap(np.unique(ids).astype(np.uint32), optimize=False)


def micros(run: Callable[[], object], repeats: int) -> float:
    """Return the mean time of run() in us, after one warm call."""
    run()
    started = time.perf_counter()
    for _ in range(repeats):
        run()
    return (time.perf_counter() - started) / repeats * 1e6


def overlay_costs(rng: np.random.Generator, base: FrozenBitMap, moved_users: int, weights: np.ndarray,
                  group: FrozenBitMap, adds: dict[int, FrozenBitMap]) -> tuple[float, float]:
    """Return (a read's build of the tag, the overlay's upkeep for one group) in us, for an overlay of moved_users."""
    movers = rng.choice(USERS, moved_users, replace=False)
    moved = bitmap(movers)
    values = rng.choice(VALUES, moved_users, p=weights)
    now = {v: bitmap(movers[values == v]) for v in range(VALUES)}
    build = micros(lambda: (base - moved) | now[0], 100)
    upkeep = micros(lambda: [(now[v] - group) | adds[v] for v in range(VALUES)], 10) + micros(
        lambda: moved | group, 50)
    return build, upkeep


def main() -> int:
    rng = np.random.default_rng(3)
    base = bitmap(rng.choice(USERS, 1_750_000, replace=False))
    weights = 1 / np.arange(1, VALUES + 1) ** 1.05
    weights /= weights.sum()
    group_users = rng.choice(USERS, GROUP_SETS, replace=False)
    group = bitmap(group_users)
    group_values = rng.choice(VALUES, GROUP_SETS, p=weights)
    adds = {v: bitmap(group_users[group_values == v]) for v in range(VALUES)}
    for moved_users in (2_000, 20_000, 200_000):
        build, upkeep = overlay_costs(rng, base, moved_users, weights, group, adds)
        print(f"moved since the base {moved_users:>7,}: a read builds the tag in {build:6.1f} us; "
              f"the overlay's upkeep per group {upkeep / 1e3:5.2f} ms")
    print(f"today's rewrite of the tag per group (base - moved): {micros(lambda: base - group, 100):.0f} us, "
          f"for each of the {VALUES} values a group's SETs touch")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
