"""In-process cost of the write side, without gRPC: stream batches through the Ingestor, then a replay.

    python bench/writer.py                      # 200k users, 200 batches of 5,000 SETs, fsync off
    python bench/writer.py --users 1000000 --batches 500

Generates users with dolphin.demo, loads them with the real loader, submits batches one at a time (each waits
for its ack: per-batch latency of validate, log append, apply and publish), closes without a checkpoint and
reopens, so the restart replays every batch from the log.
"""

from __future__ import annotations

import argparse
import pathlib
import shutil
import statistics
import time

import numpy as np

from dolphin.demo import generate
from dolphin.stream import FsyncPolicy, IngestSettings, open_stream
from dolphin.stream.batches import MutationBatch, MutationOp
from loaders.tags import load_tags

SETTINGS = IngestSettings(fsync=FsyncPolicy("none"), checkpoint_seconds=0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--work", type=pathlib.Path, default=pathlib.Path("bench/work/writer"))
    args = parser.parse_args()
    base = args.work / f"data-{args.users}"
    if not base.exists():
        args.work.mkdir(parents=True, exist_ok=True)
        generate(args.users, seed=1).write_parquet(args.work / "users.parquet")
        load_tags([str(args.work / "users.parquet")], base, shard_bits=16)
    run = args.work / "run"
    shutil.rmtree(run, ignore_errors=True)
    shutil.copytree(base, run)
    ingestor = open_stream(run, SETTINGS)
    users = ingestor.engine.export_cursor("ALL", page_size=10_000).next_page().user_ids
    cities = [f"city_{i:03d}" for i in range(300)]
    rng = np.random.default_rng(3)
    latencies = []
    for offset in range(args.batches):
        n = 5000
        batch = MutationBatch("bench", offset, np.full(n, MutationOp.SET, dtype=np.uint8),
                              [users[i] for i in rng.integers(0, len(users), n)], ["city"] * n,
                              [cities[i] for i in rng.integers(0, len(cities), n)])
        started = time.perf_counter()
        ingestor.submit(batch).result()
        latencies.append(time.perf_counter() - started)
    ingestor.close(checkpoint=False)
    print(f"per batch of 5,000: p50 {statistics.median(latencies) * 1000:.2f} ms, "
          f"mean {statistics.mean(latencies) * 1000:.2f} ms")
    started = time.perf_counter()
    again = open_stream(run, SETTINGS)
    replayed = again.recovery.replayed if again.recovery else 0
    print(f"restart replaying {replayed} records: {time.perf_counter() - started:.2f} s")
    again.close(checkpoint=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
