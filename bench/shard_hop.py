"""The hop from a cluster front to its shards: Ray actor calls against gRPC calls to shard servers.

    python bench/shard_hop.py                     # 1M users, 1, 2 and 4 shards
    python bench/shard_hop.py --users 10000000 --shards 2,4

Builds an N-shard data root with the real cluster loader, then counts the same expressions by fanning out to
every shard and summing, both ways, from an asyncio front (as a front gRPC server would):
- Ray: one actor per shard (class `Shard`, each wrapping a single-node `Engine`), `await` on the ObjectRefs;
- gRPC: one `dolphin serve` process per shard dir, `grpc.aio` stubs, `asyncio.gather` over the shards.
Every fan-out answer is checked against a single-node engine over the whole input.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pathlib
import shutil
import socket
import statistics
import subprocess
import sys
import time

import grpc
import ray

from dolphin.demo import generate
from dolphin.engine import Engine
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
class Shard:
    """One shard's engine in its own process (`ray::Shard` in ps)."""

    def __init__(self, data_dir: str) -> None:
        self.engine = Engine(data_dir)

    def count(self, expression: str) -> int:
        return self.engine.count(expression).count


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


def start_servers(dirs: list[pathlib.Path]) -> tuple[list[subprocess.Popen[bytes]], list[str]]:
    procs, targets = [], []
    for d in dirs:
        port = free_port()
        procs.append(subprocess.Popen([sys.executable, "-m", "dolphin", "serve", "--data-dir", str(d), "--port",
                                       str(port), "--watch-seconds", "0", "--checkpoint-seconds", "0"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        targets.append(f"127.0.0.1:{port}")
    for target in targets:
        while subprocess.run([sys.executable, "-m", "dolphin", "health", "--target", target, "--timeout", "1"],
                             capture_output=True).returncode != 0:
            time.sleep(0.2)
    return procs, targets


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
        actors = [Shard.remote(str(d)) for d in dirs]  # type: ignore[attr-defined]
        ray.get([a.count.remote("ALL") for a in actors])
        ray_ms = asyncio.run(ray_fanout(actors, want, args.iterations))
        for actor in actors:
            ray.kill(actor)
        procs, targets = start_servers(dirs)
        try:
            grpc_ms = asyncio.run(grpc_fanout(targets, want, args.iterations))
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait()
        report[f"{shards} shard(s)"] = {"ray_actor": ray_ms, "grpc": grpc_ms}
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
