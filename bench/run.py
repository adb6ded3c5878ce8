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
from decimal import Decimal

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


def percentiles(samples: list[float]) -> dict[str, float]:
    """Return p50/p95/p99 of latencies in ms (nearest rank for the tails)."""
    ordered = sorted(samples)
    n = len(ordered)
    return {"p50": statistics.median(ordered), "p95": ordered[int(0.95 * (n - 1))], "p99": ordered[int(0.99 * (n - 1))]}


def timed(fn: Callable[[], object], n: int, warmup: int = 3) -> dict[str, float]:
    return interleaved({"fn": fn}, n, warmup)["fn"]


def interleaved(calls: dict[str, Callable[[], object]], n: int, warmup: int = 3) -> dict[str, dict[str, float]]:
    """Time every call n times, round-robin, so that drift hits all of them alike; p50/p95/p99 in ms."""
    for fn in calls.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(n):
        for name, fn in calls.items():
            started = time.perf_counter()
            fn()
            samples[name].append((time.perf_counter() - started) * 1e3)
    return {name: percentiles(values) for name, values in samples.items()}


def users_parquet(work: pathlib.Path, users: int) -> pathlib.Path:
    """Return the demo population's Parquet file in work, generating it (seed 0) when missing."""
    parquet = work / f"users-{users}.parquet"
    if not parquet.exists():
        from dolphin.demo import generate

        work.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        generate(users, seed=0).write_parquet(parquet)
        print(f"generated {parquet} in {time.perf_counter() - started:.1f} s", flush=True)
    return parquet


def tag_data(work: pathlib.Path, users: int) -> pathlib.Path:
    """Return bench/run.py's data dir (tags and numeric fields) or, when it is missing, one with the tags only."""
    data = work / f"data-{users}"
    if not data.exists():
        subprocess.run(dolphin_cmd("load", "tags", str(users_parquet(work, users)), "--data-dir", str(data)),
                       check=True, capture_output=True)
    return data


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


N1 = "spend_30d BETWEEN 100 AND 500 AND gender=F"
AGE_CUTS = [str(10 * i) for i in range(1, 10)]  # n5: 10 buckets of age


def measure_numeric(target: str, n: int) -> tuple[dict[str, dict[str, float]], dict[str, object]]:
    """n1-n5: a range count, sum and mean, percentiles, top-1,000 and an age profile, through gRPC."""
    results: dict[str, dict[str, float]] = {}
    answers: dict[str, object] = {}
    with Client(target, timeout=60) as client:
        def n2() -> object:
            return client.aggregate(Q2, ["spend_30d"], statistics=["sum", "mean"])

        def n3() -> object:
            return client.aggregate(Q2, ["spend_30d"], percentiles=[50, 90, 99], statistics=["count"])

        def n4() -> list[str]:
            request = pb.ExportRequest(expression=Q2, page_size=1000, max_pages=1,
                                       order_by=pb.ExportOrder(field="score", descending=True))
            return [u for page in client.audiences.Export(request) for u in page.user_ids]

        def n5() -> object:
            return client.profile(Q2, dimensions=["age"], numeric_cuts={"age": AGE_CUTS})

        answers["n1"] = client.count(N1)
        summed = n2().fields[0]  # type: ignore[attr-defined]
        answers["n2"] = (summed.sum.exact, round(summed.mean.value, 6))
        answers["n3"] = [p.value.exact for p in n3().fields[0].percentiles]  # type: ignore[attr-defined]
        answers["n4"] = n4()
        answers["n5"] = {i: v.count for i, v in enumerate(n5().dimensions[0].values) if v.count}  # type: ignore[attr-defined]
        results["n1 range count"] = timed(lambda: client.count(N1), n)
        results["n2 sum+mean"] = timed(n2, n)
        results["n3 p50/p90/p99"] = timed(n3, max(20, n // 3))
        results["n4 top-1,000"] = timed(n4, max(20, n // 3))
        results["n5 age profile x10"] = timed(n5, max(20, n // 3))
        sizes = {d.name: d for d in client.list_dimensions(max_values=1) if d.name in ("age", "spend_30d", "score")}
    answers["bsi"] = {name: {"users_with_value": d.user_count, "bits": d.numeric.bits,
                             "index_bytes": d.numeric.index_bytes,
                             "bytes_per_valued_user": round(d.numeric.index_bytes / max(1, d.user_count), 3),
                             "minimum_bytes_per_valued_user": round(_minimum_bits(d) / 8, 3),
                             "ratio_to_minimum": round(d.numeric.index_bytes * 8 / max(1, d.user_count)
                                                       / _minimum_bits(d), 2)}
                      for name, d in sizes.items()}
    return results, answers


def _minimum_bits(d: object) -> int:
    """Bits each user with a value needs at least: the binary length of the field's range."""
    low, high = d.numeric.min.value, d.numeric.max.value  # type: ignore[attr-defined]
    scale = 10 ** d.numeric.scale  # type: ignore[attr-defined]
    return max(1, int(round((high - low) * scale)).bit_length())


def measure_numeric_peer(peer: DuckDBPeer | ChdbPeer, n: int) -> tuple[dict[str, dict[str, float]], dict]:
    count = peer.numeric_count if isinstance(peer, ChdbPeer) else peer.count
    answers: dict[str, object] = {
        "n1": count(N1), "n2": peer.sum_mean(Q2, "spend_30d"),
        "n3": peer.percentiles(Q2, "spend_30d", [50, 90, 99]), "n4": peer.top(Q2, "score", 1000),
        "n5": peer.buckets(Q2, "age", 10, 9)}
    total, mean = answers["n2"]  # type: ignore[misc]
    answers["n2"] = (total, round(mean, 6))
    results = {
        "n1 range count": timed(lambda: count(N1), n),
        "n2 sum+mean": timed(lambda: peer.sum_mean(Q2, "spend_30d"), n),
        "n3 p50/p90/p99": timed(lambda: peer.percentiles(Q2, "spend_30d", [50, 90, 99]), n),
        "n4 top-1,000": timed(lambda: peer.top(Q2, "score", 1000), n),
        "n5 age profile x10": timed(lambda: peer.buckets(Q2, "age", 10, 9), n),
    }
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


def _same(query: str, peer: object, dolphin: object) -> bool:
    """True when a peer's answer equals Dolphin's (numbers compared as decimals, buckets by index)."""
    if query == "n2":
        (total, mean), (ours, our_mean) = peer, dolphin  # type: ignore[misc]
        return bool(Decimal(total) == Decimal(ours) and abs(mean - our_mean) <= 1e-6 * max(1.0, abs(mean)))
    if query == "n3":
        return [Decimal(v) for v in peer] == [Decimal(v) for v in dolphin]  # type: ignore[attr-defined]
    return peer == dolphin


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=10_000_000)
    parser.add_argument("--work", default=str(ROOT / "bench" / "work"))
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--port", type=int, default=50091)
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--workers", default="1,2", help="server worker counts to measure throughput with")
    parser.add_argument("--only-numeric", action="store_true", help="skip q1-q5 and throughput: n1-n5 only")
    args = parser.parse_args()
    work = pathlib.Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    report: dict[str, object] = {"users": args.users}
    parquet = users_parquet(work, args.users)
    numbers = work / f"numbers-{args.users}.parquet"
    if not numbers.exists():
        import polars as pl

        from dolphin.demo import numeric_columns

        ids = pl.read_parquet(parquet, columns=["user_id"])["user_id"].to_numpy()
        numeric_columns(ids, seed=1).write_parquet(numbers)
    data = work / f"data-{args.users}"
    shutil.rmtree(data, ignore_errors=True)
    started = time.perf_counter()
    load = subprocess.run(dolphin_cmd("load", "tags", str(parquet), "--data-dir", str(data)),
                          capture_output=True, text=True, check=True)
    report["load_seconds"] = round(time.perf_counter() - started, 2)
    report["load_output"] = load.stdout.strip()
    print(load.stdout.strip(), f"(wall {report['load_seconds']} s)", flush=True)
    started = time.perf_counter()
    load = subprocess.run(dolphin_cmd("load", "tags", str(numbers), "--data-dir", str(data), "--numeric", "age"),
                          capture_output=True, text=True, check=True)
    report["numeric_load_seconds"] = round(time.perf_counter() - started, 2)
    print(load.stdout.strip(), f"(wall {report['numeric_load_seconds']} s)", flush=True)

    proc, report["restart_to_serving_seconds"] = start_server(data, args.port, 1)
    target = f"127.0.0.1:{args.port}"
    batch = batch_expressions(100)
    with Client(target) as client:
        status = client.status()
    report["bitmap_bytes"] = status.bitmap_bytes
    report["id_dictionary_bytes_in_memory"] = status.users * 8
    results, answers = ({}, {}) if args.only_numeric else measure_dolphin(target, args.iterations, batch)
    numeric_results, numeric_answers = measure_numeric(target, args.iterations)
    report["bsi"] = numeric_answers.pop("bsi")
    results.update(numeric_results)
    answers.update(numeric_answers)
    report["rss_after_queries"] = rss_bytes(proc.pid)
    report["dolphin"] = results
    print(json.dumps(results, indent=1), json.dumps(report["bsi"], indent=1), flush=True)
    throughputs = {}
    proc.terminate()
    proc.wait()
    for workers in [] if args.only_numeric else [int(w) for w in args.workers.split(",")]:
        proc, _ = start_server(data, args.port, workers)
        throughputs[f"{workers} worker(s)"] = round(throughput(target, Q2), 1)
        proc.terminate()
        proc.wait()
    report["q2_throughput_16_clients_per_second"] = throughputs
    print("throughput", throughputs, flush=True)

    if not args.no_peers:
        for name, make in (("chdb", lambda: ChdbPeer(str(parquet), KINDS, str(numbers), BOOLS)),
                           ("duckdb", lambda: DuckDBPeer(str(parquet), KINDS, BOOLS, str(numbers)))):
            peer = make()
            report[f"{name}_load_seconds"] = round(peer.load_seconds, 1)
            peer_results, peer_answers = ({}, {}) if args.only_numeric else measure_peer(
                peer, max(20, args.iterations // 10), batch)
            numeric_peer, numeric_peer_answers = measure_numeric_peer(peer, max(20, args.iterations // 10))
            peer_results.update(numeric_peer)
            peer_answers.update(numeric_peer_answers)
            report[name] = peer_results
            agree = {q: _same(q, peer_answers[q], answers[q]) for q in answers}
            report[f"{name}_agrees"] = agree
            report[f"{name}_ratio_p50"] = {q: round(peer_results[q]["p50"] / results[q]["p50"], 1) for q in results}
            print(name, json.dumps(peer_results, indent=1), agree, flush=True)
            del peer
    (work / f"report-{args.users}.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
