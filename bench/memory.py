"""Server memory at 10M users (issue 14, item 3): RSS after each query type, against the bitmaps plus the ID
dictionary, with what each read cache holds (AdminService.Status cache_bytes).

    python bench/memory.py                      # 10M users (reuses bench/work from bench/run.py)
    python bench/memory.py --env GLIBC_TUNABLES=glibc.malloc.arena_max=8   # an allocator setting to compare
    python bench/memory.py --data bench/work/lookalike-10000000x32/data     # bench/lookalike.py's world

The target is RSS <= 1.5 x (serialized bitmap bytes + 8 bytes per user of the int64 ID dictionary). A data dir
with embeddings (bench/lookalike.py's) gets lookalike steps, and its FAISS index and row map count as served
data too; the vectors file itself is memory-mapped, and the pages a query reads show in RSS.

The queries start once the server's RSS has settled (the "settled" row): until then it still holds the loader's
scratch, which it returns within about 2 s with or without queries.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.lookalike import POOL  # noqa: E402
from bench.run import Q1, Q2, dolphin_cmd, rss_bytes  # noqa: E402
from dolphin.client import Client  # noqa: E402
from dolphin.storage import layout, vectors  # noqa: E402
from dolphin.v1 import catalog_service_pb2 as cat_pb  # noqa: E402

FULL = "device_os=android"


def steps(client: Client) -> list[tuple[str, Callable[[], object]]]:
    """Return the query types in the order they run, each repeated as a client would."""
    listed = list(client.list_dimensions())
    numeric = [d.name for d in listed if d.kind == cat_pb.DIMENSION_KIND_NUMERIC]
    tags = [d.name for d in listed if d.kind != cat_pb.DIMENSION_KIND_NUMERIC]
    return [
        ("counts q1/q2 x300", lambda: [client.count(q) for q in (Q1, Q2) for _ in range(150)]),
        ("batch count x100", lambda: client.batch_count([Q1, Q2] * 50)),
        ("explain", lambda: client.explain(Q2)),
        ("overlap", lambda: client.overlap([Q1, Q2, FULL])),
        ("profile of every tag dimension", lambda: client.profile(Q2, dimensions=tags[:50])),
        ("export 10k page text + int64", lambda: (next(client.export_pages(Q2, page_size=10000, max_pages=1)),
                                                  next(client.export_integers(Q2, page_size=10000, max_pages=1)))),
        ("full export 5.3M int64", lambda: sum(len(np.asarray(p)) for p in client.export_integers(FULL,
                                                                                                  page_size=10000))),
        ("full export 5.3M text", lambda: sum(1 for _ in client.export(FULL, page_size=10000))),
        ("bitmap export 5.3M", lambda: len(client.export_bitmap(FULL))),
        ("numeric aggregate", lambda: client.aggregate(Q2, numeric, percentiles=[0.5, 0.9, 0.99])
         if numeric else None),
        ("numeric profile", lambda: client.profile(Q2, dimensions=numeric) if numeric else None),
        ("ordered export top 10k", lambda: next(client.export_pages(Q2, page_size=10000, max_pages=1,
                                                                    order_by=numeric[0], descending=True))
         if numeric else None),
    ]


def lookalike_steps(client: Client) -> list[tuple[str, Callable[[], object]]]:
    """Return the query types over bench/lookalike.py's world (tags region and seed, plus embeddings)."""
    return [
        ("counts x300", lambda: [client.count(POOL) for _ in range(300)]),
        ("profile of every dimension", lambda: client.profile(POOL)),
        ("export 10k page int64", lambda: next(client.export_integers(POOL, page_size=10000,
                                                                      max_pages=1))),
        ("full export 3M int64", lambda: sum(len(np.asarray(p)) for p in client.export_integers(
            POOL, page_size=10000))),
        ("lookalike top-1,000 x20", lambda: [client.lookalike("seed=yes", candidate_expression=POOL,
                                                              k=1000) for _ in range(20)]),
        ("lookalike top-100,000 x3", lambda: [client.lookalike("seed=yes", candidate_expression=POOL,
                                                               k=100_000) for _ in range(3)]),
    ]


def vector_files(data: pathlib.Path) -> dict[str, int]:
    """Return the sizes of the newest version's embedding files (none without embeddings)."""
    versions = layout.list_versions(data)
    if not versions:
        return {}
    newest = layout.versions_dir(data) / layout.version_name(versions[-1])
    return {name: (newest / name).stat().st_size for name in vectors.FILES if (newest / name).exists()}


def settled(pid: int, timeout: float = 15.0, quiet: float = 1.5) -> float:
    """Wait until the server's RSS has not fallen by a MiB for `quiet` seconds; return the seconds waited.

    Polars' allocator returns the scratch of reading the ID dictionary over 1-2 s after the snapshot is served,
    queries or not (an idle server: 478 MiB when served, 401 after 1.2 s, 395 after 2.2 s, at 10M users)."""
    started = time.monotonic()
    lowest, since = rss_bytes(pid), started
    while time.monotonic() - since < quiet and time.monotonic() - started < timeout:
        time.sleep(0.1)
        now = rss_bytes(pid)
        if now < lowest - (1 << 20):
            lowest, since = now, time.monotonic()
    return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=10_000_000)
    parser.add_argument("--work", default=str(ROOT / "bench" / "work"))
    parser.add_argument("--port", type=int, default=50096)
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the server process")
    parser.add_argument("--label", default="")
    parser.add_argument("--data", default="", help="data dir (default: bench/work/data-<users>)")
    args = parser.parse_args()
    data = pathlib.Path(args.data) if args.data else pathlib.Path(args.work) / f"data-{args.users}"
    embeddings = vector_files(data)
    env = {**os.environ, **dict(e.split("=", 1) for e in args.env)}
    proc = subprocess.Popen(dolphin_cmd("serve", "--data-dir", str(data), "--port", str(args.port),
                                        "--watch-seconds", "0"), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    report: dict[str, object] = {"users": args.users, "env": args.env, "label": args.label}
    try:
        with Client(f"127.0.0.1:{args.port}", timeout=300) as client:
            deadline = time.monotonic() + 120
            while True:
                try:
                    status = client.status()
                    if status.users:  # the snapshot is served
                        break
                except Exception:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"the server served no users within 120 s ({data})")
                time.sleep(0.2)
            users = int(status.users)
            bitmaps = int(status.bitmap_bytes)
            held = sum(size for name, size in embeddings.items() if name != vectors.VECTORS_FILE)  # mapped, not held
            budget = bitmaps + 8 * users + held
            report.update(bitmap_bytes=bitmaps, dictionary_bytes=8 * users, vector_files=embeddings,
                          target_rss=int(1.5 * budget))
            rows = [{"after": "start", "rss_mb": round(rss_bytes(proc.pid) / 2**20, 1)}]
            rows.append({"after": "settled", "seconds": round(settled(proc.pid), 1),
                         "rss_mb": round(rss_bytes(proc.pid) / 2**20, 1)})
            for name, run in (lookalike_steps(client) if embeddings else steps(client)):
                started = time.perf_counter()
                run()
                rows.append({"after": name, "seconds": round(time.perf_counter() - started, 3),
                             "rss_mb": round(rss_bytes(proc.pid) / 2**20, 1)})
                print(rows[-1], flush=True)
            time.sleep(1.5)  # anything freed late (worker threads finishing) shows here
            rows.append({"after": "idle 1.5 s", "rss_mb": round(rss_bytes(proc.pid) / 2**20, 1)})
            report["rows"] = rows
            report["cache_bytes"] = dict(client.status().cache_bytes)
            final = rows[-1]["rss_mb"]
            assert isinstance(final, float)
            report["rss_over_budget"] = round(final * 2**20 / budget, 3)
    finally:
        proc.terminate()
        proc.wait()
    out = pathlib.Path(args.work) / f"memory-{args.users}{'-' + args.label if args.label else ''}.json"
    out.write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
