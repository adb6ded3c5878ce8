"""Would CRoaring's shared containers (pyroaring `copy_on_write=True`) cut the stream writer's fixed cost per group?

The writer's fixed cost is rewriting every tag a group touches: random users touch every container of a tag, so
`bm - moved` (a SET's users leave every value of the dimension) builds all of them anew, and so does `bm | added`
(an ADD) even for the few users added (`python bench/apply.py`). With copy-on-write, a result shares the
containers an operation leaves alone: `bm - (bm & moved)` builds only the containers of the users that actually
leave the tag, and `bm | added` only those of the users added. This measures both operations in both forms over
the real 10M-user version's tags, the release of what they replaced, and what shared containers cost reads (AND
chains of five tags, counted), in one run.

    python bench/copy_on_write.py                       # needs bench/work/data-10000000 (python bench/run.py)
    python bench/copy_on_write.py --users 1000000 --rounds 5

pyroaring refuses to mix bitmaps with and without the flag, so the copy-on-write tags are rebuilt with it from their
values (a copy of a bitmap keeps the source's flag, whatever the constructor is told).
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import sys
import time

import numpy as np
from pyroaring import BitMap, FrozenBitMap

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dolphin.engine.engine import Engine  # noqa: E402

MOVED = 5_000  # users one stream batch moves: bench/stream.py's batch size


ADDED = 7  # users one batch adds to one value: 5,000 x 40% ADDs over bench/stream.py's 300 interests


def rewritten(tags: list[FrozenBitMap], users: list[BitMap], operation: str, shared: bool
              ) -> tuple[list[FrozenBitMap], float, float]:
    """Return the tags after the operation (remove: users[0] leave every tag; add: users[i] join tag i), the
    seconds that took and the seconds freeing the old tags took."""
    started = time.perf_counter()
    if operation == "add":
        new = [bm | added for bm, added in zip(tags, users, strict=True)]
    elif shared:
        new = [bm - (bm & users[0]) for bm in tags]
    else:
        new = [bm - users[0] for bm in tags]
    middle = time.perf_counter()
    tags.clear()  # the only references: this frees them
    return new, middle - started, time.perf_counter() - middle


def and_chain_ms(tags: list[FrozenBitMap], rng: np.random.Generator, calls: int) -> float:
    """Return the p50 of counting the AND of five random tags, ms."""
    times = []
    for _ in range(calls):
        a, b, c, d, e = (tags[i] for i in rng.choice(len(tags), 5, replace=False))
        started = time.perf_counter()
        (a & b & c & d).intersection_cardinality(e)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=10_000_000)
    parser.add_argument("--work", default=str(ROOT / "bench" / "work"))
    parser.add_argument("--rounds", type=int, default=8, help="groups of moved users per form (median reported)")
    parser.add_argument("--calls", type=int, default=1000, help="AND chains timed per form")
    args = parser.parse_args()
    engine = Engine(pathlib.Path(args.work) / f"data-{args.users}")
    snap = engine.snapshot()
    plain = [bm for values in snap.tags.values() for bm in values.values()]
    containers = sum(bm.get_statistics()["n_containers"] for bm in plain)
    print(f"{args.users:,} users: {len(plain):,} tags, {containers:,} containers")
    copies = [FrozenBitMap(bm.to_array(), copy_on_write=True) for bm in plain]  # a bitmap passes its own flag on
    del snap
    rng = np.random.default_rng(7)
    for shared, tags in ((False, plain), (True, copies)):
        reads_before = and_chain_ms(tags, np.random.default_rng(1), args.calls)
        for operation in ("remove", "add"):
            build, free = [], []
            for _ in range(args.rounds):
                count = len(tags) * ADDED if operation == "add" else MOVED
                drawn = rng.choice(args.users, count, replace=False).astype(np.uint32)
                users = ([BitMap(part, copy_on_write=shared) for part in np.split(drawn, len(tags))]
                         if operation == "add" else [BitMap(drawn, copy_on_write=shared)])
                tags, seconds, freeing = rewritten(tags, users, operation, shared)
                build.append(seconds)
                free.append(freeing)
            form = ("bm | added" if operation == "add" else "bm - (bm & moved)" if shared else "bm - moved")
            print(f"{'copy_on_write' if shared else 'plain'}, {form}: all tags p50 {statistics.median(build) * 1e3:.1f}"
                  f" ms, then freeing the old ones p50 {statistics.median(free) * 1e3:.1f} ms (first round "
                  f"{build[0] * 1e3:.1f} / {free[0] * 1e3:.1f} ms)")
        reads_after = and_chain_ms(tags, np.random.default_rng(1), args.calls)
        print(f"{'copy_on_write' if shared else 'plain'}: 5-tag AND count p50 {reads_before:.3f} ms before the "
              f"rewrites, {reads_after:.3f} ms after")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
