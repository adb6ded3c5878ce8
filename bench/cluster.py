"""One process against a cluster front over 1, 2 or 4 shards, through the same gRPC API, in one run.

    python bench/cluster.py                               # 1M users, 2 shards
    python bench/cluster.py --users 10000000 --shards 1,2,4

Generates demo users, loads them into one data dir (`dolphin load tags`) and into a cluster root per shard
count (`--data-root --shards N`), starts `dolphin serve` and `dolphin cluster serve` (a local Ray each) as real
processes, checks that every answer is identical, then times each query on every system in alternating rounds
(the machine is noisy) and prints p50/p95 in ms, plus load times and RSS of every process.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

from dolphin.client import Client
from dolphin.demo import generate

QUERIES = {
    "q1": "gender=F AND interest=tennis",
    "q2": "gender=F AND city IN (Hangzhou, Shanghai) AND interest=tennis AND NOT vip=true",
    "q4": "(interest=tennis OR interest=running) AND NOT city=Hangzhou",
}
BATCH = [f"city=city_{i:03d} AND gender=F" for i in range(100)]


def dolphin(*args: str) -> list[str]:
    return [sys.executable, "-m", "dolphin", *args]


def wait_ready(target: str, proc: subprocess.Popen[bytes], timeout: float = 600) -> None:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if proc.poll() is not None:
            raise SystemExit(f"server for {target} exited with {proc.returncode}")
        try:
            with Client(target, timeout=2, retries=0) as c:
                c.count("ALL")
                return
        except Exception:  # noqa: BLE001 - not serving yet
            time.sleep(0.3)
    raise SystemExit(f"{target} did not serve within {timeout} s")


def rss_of_tree(pid: int) -> int:
    """Resident bytes of a process and all its descendants (the Ray shards of a front)."""
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid=,rss="], capture_output=True, text=True).stdout.split("\n")
    rows = [tuple(int(x) for x in line.split()) for line in out if line.strip()]
    children: dict[int, list[int]] = {}
    for p, parent, _ in rows:
        children.setdefault(parent, []).append(p)
    rss = {p: r for p, _, r in rows}
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0) * 1024
        todo.extend(children.get(p, []))
    return total


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50": round(statistics.median(ordered) * 1000, 3),
            "p95": round(ordered[int(len(ordered) * 0.95)] * 1000, 3)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--shards", default="2")
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--work", default="/tmp/dolphin-bench-cluster")
    args = parser.parse_args()
    work = pathlib.Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    generate(args.users, seed=1).write_parquet(work / "users.parquet")
    loads: dict[str, float] = {}
    started = time.perf_counter()
    subprocess.run(dolphin("load", "tags", str(work / "users.parquet"), "--data-dir", str(work / "single")),
                   check=True, stdout=subprocess.DEVNULL)
    loads["1 process"] = round(time.perf_counter() - started, 1)
    systems: dict[str, tuple[str, subprocess.Popen[bytes]]] = {}
    port = 52100
    procs = []
    try:
        proc = subprocess.Popen(dolphin("serve", "--data-dir", str(work / "single"), "--port", str(port),
                                        "--watch-seconds", "0"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(proc)
        systems["1 process"] = (f"127.0.0.1:{port}", proc)
        for n in [int(x) for x in args.shards.split(",")]:
            root = work / f"cluster-{n}"
            started = time.perf_counter()
            subprocess.run(dolphin("load", "tags", str(work / "users.parquet"), "--data-root", str(root),
                                   "--shards", str(n)), check=True, stdout=subprocess.DEVNULL)
            loads[f"{n} shards"] = round(time.perf_counter() - started, 1)
            port += 1
            proc = subprocess.Popen(dolphin("cluster", "serve", "--data-root", str(root), "--port", str(port),
                                            "--watch-seconds", "0", "--cpus-per-shard", "0.5"),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            procs.append(proc)
            systems[f"{n} shards"] = (f"127.0.0.1:{port}", proc)
        for target, proc in systems.values():
            wait_ready(target, proc)
        clients = {name: Client(target, timeout=60, retries=0) for name, (target, _) in systems.items()}
        calls: dict[str, Callable[[Client], object]] = {
            **{name: (lambda c, q=q: c.count(q)) for name, q in QUERIES.items()},
            "profile x300": lambda c: c.profile(QUERIES["q2"], dimensions=["city"], top_k=300),
            "BatchCount x100": lambda c: c.batch_count(BATCH),
        }
        reference = clients["1 process"]
        for name, call in calls.items():
            want = call(reference)
            for system, client in clients.items():
                got = call(client)
                if name.startswith("profile"):
                    got.snapshot_version = want.snapshot_version  # type: ignore[attr-defined]
                assert got == want, (name, system)
        samples: dict[str, dict[str, list[float]]] = {s: {n: [] for n in calls} for s in clients}
        rounds = 6
        for _ in range(rounds):
            for system, client in clients.items():
                for name, call in calls.items():
                    for _ in range(max(1, args.iterations // rounds if "x" not in name else args.iterations // 30)):
                        t = time.perf_counter()
                        call(client)
                        samples[system][name].append(time.perf_counter() - t)
        table = {system: {name: percentiles(s) for name, s in per.items()} for system, per in samples.items()}
        memory = {system: round(rss_of_tree(proc.pid) / 2**20) for system, (_, proc) in systems.items()}
        print(json.dumps({"users": args.users, "answers": "identical", "latency_ms": table,
                          "load_seconds": loads, "rss_mib": memory}, indent=2))
        for client in clients.values():
            client.close()
    finally:
        for proc in procs:
            try:
                if proc is procs[0]:
                    proc.terminate()
                else:  # the front and the Ray it started
                    os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for proc in procs:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
