"""What a group of SETs costs the stream's writer with and without live codes (stream/live_codes.py), on a
single-valued dimension of many values, at 10M users.

    python bench/live_codes.py                   # needs bench/work/data-10000000 (python bench/run.py)
    python bench/live_codes.py --values 400,20000 --sets 10,2000

A dimension `zip` of `--values` values is added to the loaded data, users spread uniformly over it. Each group is
one batch of SETs that moves the same users to random values, applied to the result of the group before (the
writer's own history). Without codes every value of the dimension is checked against the moved users; with them
only the values users leave or join are rewritten. The first group with codes builds them and is left out, as is
the first without; the median of the rest is printed, with the one-off cost of building the codes.
"""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
import statistics
import sys
import time

import numpy as np
from pyroaring import FrozenBitMap

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dolphin.engine.engine import Engine  # noqa: E402
from dolphin.engine.snapshot import Snapshot, StreamState  # noqa: E402
from dolphin.storage import DimensionKind, bitmap_from_array  # noqa: E402
from dolphin.stream.apply import apply_batches  # noqa: E402
from dolphin.stream.batches import Mutation, MutationBatch, MutationOp  # noqa: E402
from dolphin.stream.live_codes import LiveCodes, built  # noqa: E402


def with_dimension(snap: Snapshot, values: int, rng: np.random.Generator) -> Snapshot:
    """Return snap with a single-valued dimension `zip` of `values` values over all its users."""
    codes = rng.integers(0, values, len(snap.ids))
    order = np.argsort(codes, kind="stable").astype(np.uint32)
    starts = np.searchsorted(codes[order], np.arange(values + 1))
    table = {f"z{v}": FrozenBitMap(bitmap_from_array(order[starts[v]:starts[v + 1]])) for v in range(values)}
    return Snapshot(dataclasses.replace(snap.data, tags={**snap.tags, "zip": table},
                                        dimensions={**snap.kinds, "zip": DimensionKind.SINGLE}))


def group_ms(snap: Snapshot, users: list[str], values: int, groups: int, codes: LiveCodes | None,
             rng: np.random.Generator) -> float:
    """Return the median ms of applying `groups` groups of SETs of `users`, the first left out."""
    seconds = []
    for g in range(groups + 1):
        batch = MutationBatch.of("bench/zip", g, [Mutation(u, MutationOp.SET, "zip", f"z{rng.integers(values)}")
                                                  for u in users])
        started = time.perf_counter()
        snap = apply_batches(snap, [batch], snap.kinds, StreamState(sequence=g + 1), codes=codes)
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds[1:]) * 1e3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=10_000_000)
    parser.add_argument("--work", default=str(ROOT / "bench" / "work"))
    parser.add_argument("--values", default="400,5000,20000", help="values of the dimension, comma-separated")
    parser.add_argument("--sets", default="10,2000", help="SETs per group, comma-separated")
    parser.add_argument("--groups", type=int, default=6, help="groups timed per case")
    args = parser.parse_args()
    rng = np.random.default_rng(5)
    base = Engine(pathlib.Path(args.work) / f"data-{args.users}").snapshot()
    spread = base.ids.decode(np.arange(0, len(base.ids), 997, dtype=np.uint32))
    for values in [int(v) for v in args.values.split(",")]:
        snap = with_dimension(base, values, rng)
        started = time.perf_counter()
        book = built(snap.tags["zip"], len(snap.ids), lambda: None)
        build_ms = (time.perf_counter() - started) * 1e3
        assert book is not None
        for sets in [int(s) for s in args.sets.split(",")]:
            users = [str(u) for u in spread[:sets]]
            old = group_ms(snap, users, values, args.groups, None, rng)
            new = group_ms(snap, users, values, args.groups, LiveCodes(), rng)
            print(f"{values:>6,} values, {sets:>5,} SETs per group: {old:7.2f} ms every value, {new:7.2f} ms with "
                  f"live codes (built once in {build_ms:.0f} ms, {book.codes.nbytes / 1e6:.0f} MB)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
