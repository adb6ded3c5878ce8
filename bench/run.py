"""Dolphin benchmark: generate -> load (real loader) -> serve (real server) -> measure through gRPC,
and the same queries on the same data in ClickHouse (chdb) and DuckDB, in the same run, answers checked.

    python bench/run.py                      # 10M users (about 10 minutes with the peers)
    python bench/run.py --users 1000000 --no-peers

Uses only the CLI, the client, the demo generator and the expression parser (to compile peers' SQL).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import pathlib
import random
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.peers import ChdbPeer, DuckDBPeer  # noqa: E402
from dolphin.client import Client  # noqa: E402
from dolphin.v1 import audience_service_pb2 as pb  # noqa: E402

Q1 = "gender=F AND interest=tennis"
Q2 = "gender=F AND city IN (Hangzhou, Shanghai) AND interest=tennis AND NOT vip=true"
KINDS = {"gender": "single", "age_band": "single", "city": "single", "province": "single", "device_os": "single",
         "device_brand": "single", "vip": "single", "member_level": "single", "income_band": "single",
         "education": "single", "marital": "single", "has_children": "single", "channel": "single",
         "language": "single", "ltv_band": "single", "occupation": "single", "car_owner": "single",
         "pet_owner": "single", "interest": "multi", "app_category": "multi", "brand_affinity": "multi"}
BOOLS = {"vip", "has_children", "car_owner", "pet_owner"}
TERMS = ["gender=F", "gender=M", "age_band=25-34", "age_band=18-24", "city=Hangzhou", "city=Shanghai", "city=Beijing",
         "city=city_050", "device_os=ios", "device_os=android", "vip=true", "member_level=gold", "interest=tennis",
         "interest=running", "interest=travel", "interest=interest_100", "app_category=apps_001",
         "brand_affinity=affinity_003", "channel=channel_002", "education=master", "has_children=true"]


def batch_expressions(n: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        terms = rng.sample(TERMS, rng.randint(2, 5))
        parts = [("NOT " if rng.random() < 0.2 and i else "") + t for i, t in enumerate(terms)]
        out.append(" AND ".join(parts))
    return out


def timed(fn: Callable[[], object], n: int, warmup: int = 3) -> dict[str, float]:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1e3)
    samples.sort()
    return {"p50": statistics.median(samples), "p95": samples[int(0.95 * (n - 1))], "p99": samples[int(0.99 * (n - 1))]}


def dolphin_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "dolphin", *args]


def rss_bytes(pid: int) -> int:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def start_server(data: pathlib.Path, port: int, workers: int) -> tuple[subprocess.Popen[str], float]:
    started = time.perf_counter()
    proc = subprocess.Popen(dolphin_cmd("serve", "--data-dir", str(data), "--port", str(port), "--watch-seconds", "0",
                                        "--workers", str(workers)),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    target = f"127.0.0.1:{port}"
    while subprocess.run(dolphin_cmd("health", "--target", target, "--timeout", "1"),
                         capture_output=True).returncode != 0:
        if proc.poll() is not None:
            raise RuntimeError("server exited")
        time.sleep(0.05)
    return proc, time.perf_counter() - started


def _throughput_worker(target: str, expression: str, seconds: float, threads: int, out: multiprocessing.Queue) -> None:
    done = [0] * threads
    stop_at = time.monotonic() + seconds

    def loop(i: int) -> None:
        with Client(target) as client:
            while time.monotonic() < stop_at:
                client.count(expression)
                done[i] += 1

    pool = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    out.put(sum(done))


def throughput(target: str, expression: str, clients: int = 16, processes: int = 4, seconds: float = 10.0) -> float:
    queue: multiprocessing.Queue = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=_throughput_worker,
                                     args=(target, expression, seconds, clients // processes, queue))
             for _ in range(processes)]
    for p in procs:
        p.start()
    total = sum(queue.get() for _ in procs)
    for p in procs:
        p.join()
    return total / seconds


def measure_dolphin(target: str, n: int, batch: list[str]) -> tuple[dict[str, dict[str, float]], dict[str, object]]:
    results: dict[str, dict[str, float]] = {}
    answers: dict[str, object] = {}
    with Client(target, timeout=60) as client:
        answers["q1"] = client.count(Q1)
        answers["q2"] = client.count(Q2)
        profile = client.profile(Q2, dimensions=["city"], top_k=1000)
        answers["q3"] = {v.value: v.count for v in profile.dimensions[0].values}
        answers["q4"] = list(next(client.export_pages(Q2, page_size=10000, max_pages=1)).user_ids)
        answers["q5"] = client.batch_count(batch)
        results["q1 2-tag count"] = timed(lambda: client.count(Q1), n)
        results["q2 5-term count"] = timed(lambda: client.count(Q2), n)
        results["q3 profile x300"] = timed(lambda: client.profile(Q2, dimensions=["city"], top_k=300), max(20, n // 5))
        results["q4 export 10k"] = timed(
            lambda: list(client.audiences.Export(pb.ExportRequest(expression=Q2, page_size=10000, max_pages=1))),
            max(20, n // 5))
        results["q5 BatchCount x100"] = timed(lambda: client.batch_count(batch), max(10, n // 10))
    return results, answers


def measure_peer(peer: DuckDBPeer | ChdbPeer, n: int, batch: list[str]) -> tuple[dict[str, dict[str, float]], dict]:
    answers = {"q1": peer.count(Q1), "q2": peer.count(Q2), "q3": peer.profile(Q2, "city"),
               "q4": peer.export(Q2, 10000), "q5": [peer.count(e) for e in batch]}
    results = {
        "q1 2-tag count": timed(lambda: peer.count(Q1), n),
        "q2 5-term count": timed(lambda: peer.count(Q2), n),
        "q3 profile x300": timed(lambda: peer.profile(Q2, "city"), max(10, n // 10)),
        "q4 export 10k": timed(lambda: peer.export(Q2, 10000), max(10, n // 10)),
        "q5 BatchCount x100": timed(lambda: [peer.count(e) for e in batch], 5, warmup=1),
    }
    return results, answers


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=10_000_000)
    parser.add_argument("--work", default=str(ROOT / "bench" / "work"))
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--port", type=int, default=50091)
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--workers", default="1,2", help="server worker counts to measure throughput with")
    args = parser.parse_args()
    work = pathlib.Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    report: dict[str, object] = {"users": args.users}
    parquet = work / f"users-{args.users}.parquet"
    if not parquet.exists():
        from dolphin.demo import generate

        started = time.perf_counter()
        generate(args.users, seed=0).write_parquet(parquet)
        print(f"generated {parquet} in {time.perf_counter() - started:.1f} s", flush=True)
    data = work / f"data-{args.users}"
    shutil.rmtree(data, ignore_errors=True)
    started = time.perf_counter()
    load = subprocess.run(dolphin_cmd("load", "tags", str(parquet), "--data-dir", str(data)),
                          capture_output=True, text=True, check=True)
    report["load_seconds"] = round(time.perf_counter() - started, 2)
    report["load_output"] = load.stdout.strip()
    print(load.stdout.strip(), f"(wall {report['load_seconds']} s)", flush=True)

    proc, report["restart_to_serving_seconds"] = start_server(data, args.port, 1)
    target = f"127.0.0.1:{args.port}"
    batch = batch_expressions(100)
    with Client(target) as client:
        status = client.status()
    report["bitmap_bytes"] = status.bitmap_bytes
    report["id_dictionary_bytes_in_memory"] = status.users * 8
    results, answers = measure_dolphin(target, args.iterations, batch)
    report["rss_after_queries"] = rss_bytes(proc.pid)
    report["dolphin"] = results
    print(json.dumps(results, indent=1), flush=True)
    throughputs = {}
    proc.terminate()
    proc.wait()
    for workers in [int(w) for w in args.workers.split(",")]:
        proc, _ = start_server(data, args.port, workers)
        throughputs[f"{workers} worker(s)"] = round(throughput(target, Q2), 1)
        proc.terminate()
        proc.wait()
    report["q2_throughput_16_clients_per_second"] = throughputs
    print("throughput", throughputs, flush=True)

    if not args.no_peers:
        for name, make in (("chdb", lambda: ChdbPeer(str(parquet), KINDS)),
                           ("duckdb", lambda: DuckDBPeer(str(parquet), KINDS, BOOLS))):
            peer = make()
            report[f"{name}_load_seconds"] = round(peer.load_seconds, 1)
            peer_results, peer_answers = measure_peer(peer, max(20, args.iterations // 10), batch)
            report[name] = peer_results
            agree = {q: peer_answers[q] == answers[q] for q in answers}
            report[f"{name}_agrees"] = agree
            report[f"{name}_ratio_p50"] = {q: round(peer_results[q]["p50"] / results[q]["p50"], 1) for q in results}
            print(name, json.dumps(peer_results, indent=1), agree, flush=True)
            del peer
    (work / f"report-{args.users}.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
