"""In-process cost of the stream's apply step per group, at 10M users: what a group of batches costs the writer
thread, split into a fixed part per group and a part per mutation, and how late the GIL lets another thread run
meanwhile (what a query waits for when it needs the GIL back).

    python bench/apply.py                                # needs bench/work/data-10000000 (python bench/run.py)
    python bench/apply.py --users 1000000 --groups 1,4,16

The batches are bench/stream.py's (SET city 40%, ADD interest 40%, REMOVE interest 20%, int64 IDs as columns),
decoded as the server decodes them. The state is warmed by 100 batches first, so the streamed values exist. Each
group is applied to the result of the one before (the writer's own history, so the ID index stays at its tip),
and the bitmaps it replaced are freed as the writer frees them (engine/release.py), inside the timing.

Last, the same for a reload: a freshly opened copy of the version is published, so every tag is replaced, and the
publish is timed with the old snapshot's bitmaps freed in it (`Engine.publish`).
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import sys
import threading
import time

import numpy as np
from pyroaring import AbstractBitMap

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.stream import INT_COLUMNS, serialized_batches  # noqa: E402
from dolphin.engine.engine import Engine  # noqa: E402
from dolphin.engine.release import release, replaced_bitmaps  # noqa: E402
from dolphin.engine.snapshot import Snapshot  # noqa: E402
from dolphin.server.app import tune_server_process  # noqa: E402
from dolphin.server.ingest_service import batch_of  # noqa: E402
from dolphin.storage import DimensionKind  # noqa: E402
from dolphin.storage.reader import open_newest_snapshot  # noqa: E402
from dolphin.stream.apply import apply_batches  # noqa: E402
from dolphin.stream.batches import MutationBatch  # noqa: E402
from dolphin.stream.live_codes import LiveCodes  # noqa: E402
from dolphin.v1 import ingest_service_pb2 as pb  # noqa: E402

WARM = 100  # batches applied before measuring, in groups of 20
PROBE_SLEEP = 0.0001  # the probe thread's nap: it asks for the GIL back every 0.1 ms


def applied(snap: Snapshot, group: list[MutationBatch], kinds: dict[str, DimensionKind],
            codes: LiveCodes | None = None) -> Snapshot:
    """Return snap with a group applied as the writer applies it (codes: the writer's live codes)."""
    return apply_batches(snap, group, kinds, snap.stream.advanced(0, dict(snap.stream.offsets), len(group)),
                         codes=codes)


class GilProbe:
    """A thread that naps PROBE_SLEEP at a time and records how much later than that it runs again."""

    def __init__(self) -> None:
        self.late: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            time.sleep(PROBE_SLEEP)
            self.late.append(time.perf_counter() - started - PROBE_SLEEP)

    def __enter__(self) -> GilProbe:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=10_000_000)
    parser.add_argument("--work", default=str(ROOT / "bench" / "work"))
    parser.add_argument("--groups", default="1,5,15,40", help="batches of 5,000 mutations per group, comma-separated")
    parser.add_argument("--repeats", type=int, default=6, help="groups applied per size (median reported)")
    parser.add_argument("--drop-at-once", action="store_true",
                        help="drop the replaced snapshot in one go, as the writer and reloads did before "
                             "engine/release.py")
    parser.add_argument("--reloads", type=int, default=3, help="reloads timed (every tag replaced)")
    parser.add_argument("--no-live-codes", action="store_true",
                        help="SETs without the writer's live codes (stream/live_codes.py), as before them")
    args = parser.parse_args()
    sizes = [int(s) for s in args.groups.split(",")]
    tune_server_process()  # the server's GIL switch interval: lateness is what a query there would see
    engine = Engine(pathlib.Path(args.work) / f"data-{args.users}")
    snap = engine.snapshot()
    needed = WARM + max(sizes) * args.repeats
    batches = [batch_of(pb.MutationBatch.FromString(p))
               for p in serialized_batches(args.users, needed, "bench/apply", 1, INT_COLUMNS)]
    kinds = dict(snap.kinds)
    kinds.setdefault("city", DimensionKind.SINGLE)
    kinds.setdefault("interest", DimensionKind.MULTI)
    codes = None if args.no_live_codes else LiveCodes()
    for start in range(0, WARM, 20):
        snap = applied(snap, batches[start:start + 20], kinds, codes)
    print(f"{args.users:,} users; values: city {len(snap.tags['city'])}, interest {len(snap.tags['interest'])}")
    medians = []
    for size in sizes:
        seconds, late = [], []
        for rep in range(args.repeats):
            group = batches[WARM + rep * size: WARM + (rep + 1) * size]
            with GilProbe() as probe:
                started = time.perf_counter()
                new = applied(snap, group, kinds, codes)
                replaced = replaced_bitmaps(snap, new) if not args.drop_at_once else []
                snap = new  # the old snapshot goes; its replaced bitmaps, if kept, go one by one as the writer does
                del new
                release(replaced, lambda: None)
                seconds.append(time.perf_counter() - started)
            late.extend(probe.late)
        medians.append(statistics.median(seconds))
        lateness = np.percentile(np.array(late) * 1e3, [50, 90, 99, 100])
        print(f"group of {size * 5000:>7,} mutations: apply p50 {medians[-1] * 1e3:7.1f} ms; GIL lateness p50 "
              f"{lateness[0]:.2f}, p90 {lateness[1]:.2f}, p99 {lateness[2]:.2f}, max {lateness[3]:.2f} ms")
    if len(sizes) > 1:
        per, fixed = np.polyfit([s * 5000 for s in sizes], medians, 1)
        one = fixed + per * 5000  # a group of one batch
        print(f"fit: {fixed * 1e3:.1f} ms per group + {per * 1e6:.2f} us per mutation; above {5000 / one:,.0f} "
              "mutations/s in 5,000-mutation batches the writer never idles (groups grow instead)")
    del snap
    reload_times(engine, args.reloads, args.drop_at_once)
    return 0


def reload_times(engine: Engine, reloads: int, at_once: bool) -> None:
    """Print what publishing a freshly opened copy of the version costs, the replaced snapshot freed in it."""
    for _ in range(reloads):
        data = open_newest_snapshot(engine.data_dir)
        assert data is not None
        fresh = Snapshot(data, cache=engine.new_cache())
        del data
        dropped: list[AbstractBitMap] = []
        with GilProbe() as probe:
            started = time.perf_counter()
            engine.publish(fresh, "reload", dropped if at_once else None)
            del fresh
            dropped.clear()  # with --drop-at-once: all of them in one call
            seconds = time.perf_counter() - started
        lateness = np.percentile(np.array(probe.late) * 1e3, [50, 99, 100])
        print(f"reload of {sum(len(v) for v in engine.snapshot().tags.values()):,} tags: publish "
              f"{seconds * 1e3:.1f} ms; GIL lateness p50 {lateness[0]:.2f}, p99 {lateness[1]:.2f}, "
              f"max {lateness[2]:.2f} ms")


if __name__ == "__main__":
    raise SystemExit(main())
