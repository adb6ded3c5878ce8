"""The hop from a cluster front to its shards: Ray actor calls against gRPC calls to shard servers.

    python bench/shard_hop.py                     # 1M users, 1, 2 and 4 shards
    python bench/shard_hop.py --users 10000000 --shards 2,4

Builds an N-shard data root with the real cluster loader, then counts the same expressions by fanning out to
every shard and summing, both ways, from an asyncio front (as a front gRPC server would):
- Ray: one actor per shard (`EngineActor`, each wrapping a single-node `Engine`), `await` on the ObjectRefs;
- gRPC: one shard server per shard dir, each inside a Ray actor (`dolphin.cluster.shards.start_shards`, what the
  cluster runs), `grpc.aio` stubs, `asyncio.gather` over the shards.
Every fan-out answer is checked against a single-node engine over the whole input. Then shard 0's process is
killed with SIGKILL and the time until its server answers again (Ray restarts it; it recovers) is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import shutil
import signal
import statistics
import time

import grpc
import ray

from dolphin.client import Client
from dolphin.cluster.shards import RunningShard, actor_pid, start_shards, stop_shards
from dolphin.demo import generate
from dolphin.engine import Engine
from dolphin.errors import DolphinError
from dolphin.storage.cluster_file import read_cluster
from dolphin.v1 import audience_service_pb2 as pb
from dolphin.v1 import audience_service_pb2_grpc as pb_grpc
from loaders.cluster import load_tags_into_cluster
from loaders.tags import load_tags

QUERIES = {
    "q1": "gender=F AND interest=tennis",
    "q2": "gender=F AND city IN (Hangzhou, Shanghai) AND interest=tennis AND NOT vip=true",
}


@ray.remote
class EngineActor:
    """One shard's engine in its own process, called through Ray (the path measured against gRPC)."""

    def __init__(self, data_dir: str) -> None:
        self.engine = Engine(data_dir)

    def count(self, expression: str) -> int:
        return self.engine.count(expression).count


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50": round(statistics.median(ordered) * 1000, 3),
            "p95": round(ordered[int(len(ordered) * 0.95)] * 1000, 3)}


async def timed(call: object, iterations: int) -> list[float]:
    out = []
    for _ in range(iterations):
        started = time.perf_counter()
        await call()  # type: ignore[operator]
        out.append(time.perf_counter() - started)
    return out


async def ray_fanout(actors: list[object], want: dict[str, int], iterations: int) -> dict[str, dict[str, float]]:
    result = {}
    for name, query in QUERIES.items():
        async def once(q: str = query, n: str = name) -> None:
            total = sum(await asyncio.gather(*[a.count.remote(q) for a in actors]))  # type: ignore[attr-defined]
            assert total == want[n], (n, total, want[n])
        await timed(once, 50)
        result[name] = percentiles(await timed(once, iterations))
    return result


async def grpc_fanout(targets: list[str], want: dict[str, int], iterations: int) -> dict[str, dict[str, float]]:
    channels = [grpc.aio.insecure_channel(t) for t in targets]
    stubs = [pb_grpc.AudienceServiceStub(c) for c in channels]
    result = {}
    for name, query in QUERIES.items():
        request = pb.CountRequest(expression=query)

        async def once(r: pb.CountRequest = request, n: str = name) -> None:
            replies = await asyncio.gather(*[s.Count(r, timeout=5) for s in stubs])
            assert sum(x.count for x in replies) == want[n]
        await timed(once, 50)
        result[name] = percentiles(await timed(once, iterations))
    for channel in channels:
        await channel.close()
    return result


def restart_seconds(shard: RunningShard) -> float:
    """Kill -9 a shard's process; return the seconds until its server answers a count again."""
    os.kill(actor_pid(shard), signal.SIGKILL)
    started = time.perf_counter()
    while True:
        try:
            with Client(shard.target, timeout=2, retries=0) as client:
                client.count("ALL")
            return round(time.perf_counter() - started, 3)
        except DolphinError:
            time.sleep(0.05)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--shards", default="1,2,4")
    parser.add_argument("--iterations", type=int, default=500)
    parser.add_argument("--work", type=pathlib.Path, default=pathlib.Path("bench/work/hop"))
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    users = args.work / f"users-{args.users}.parquet"
    if not users.exists():
        generate(args.users, seed=7).write_parquet(users)
    single = args.work / f"single-{args.users}"
    if not single.exists():
        load_tags([str(users)], single)
    engine = Engine(single)
    want = {n: engine.count(q).count for n, q in QUERIES.items()}
    report: dict[str, object] = {"users": args.users, "single_node_in_process_ms": {
        n: percentiles([_time(lambda q=q: engine.count(q)) for _ in range(args.iterations)])
        for n, q in QUERIES.items()}}
    ray.init(num_cpus=max(int(s) for s in args.shards.split(",")) + 1, include_dashboard=False,
             log_to_driver=False)
    for shards in [int(s) for s in args.shards.split(",")]:
        root = args.work / f"root-{args.users}-{shards}"
        if not root.exists():
            load_tags_into_cluster([str(users)], root, shards=shards)
        dirs = read_cluster(root).shard_dirs(root)
        actors = [EngineActor.remote(str(d)) for d in dirs]  # type: ignore[attr-defined]
        ray.get([a.count.remote("ALL") for a in actors])
        ray_ms = asyncio.run(ray_fanout(actors, want, args.iterations))
        for actor in actors:
            ray.kill(actor)
        running = start_shards(root, {"watch_seconds": 0.0, "checkpoint_seconds": 0.0},
                               cpus_per_shard=1 / (shards + 1))
        try:
            grpc_ms = asyncio.run(grpc_fanout([r.target for r in running], want, args.iterations))
            restart = restart_seconds(running[0])
        finally:
            stop_shards(running, 60.0)
        report[f"{shards} shard(s)"] = {"ray_actor": ray_ms, "grpc": grpc_ms, "kill_9_to_serving_seconds": restart}
        print(shards, "shards:", json.dumps(report[f"{shards} shard(s)"]), flush=True)
    ray.shutdown()
    (args.work / f"hop-report-{args.users}.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))
    shutil.rmtree(args.work / "tmp", ignore_errors=True)
    return 0


def _time(fn: object) -> float:
    started = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - started


if __name__ == "__main__":
    raise SystemExit(main())
