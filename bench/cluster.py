"""One process against a cluster front over 1, 2 or 4 shards, through the same gRPC API, in one run.

    python bench/cluster.py                                          # 1M users, 2 shards
    python bench/cluster.py --users 10000000 --shards 1,2,4
    python bench/cluster.py --users 100000000 --shards 2 --no-events --vector-users 0

Generates demo users (plus campaign events and embeddings for the first --vector-users of them), loads them into
one data dir and into a cluster root per shard count with the real CLI (`--data-root --shards N`), starts
`dolphin serve` and `dolphin cluster serve` (a local Ray each) as real processes, checks that every answer is
identical (lookalike: recall against NumPy brute force), then times each query on every system in alternating
rounds (the machine is noisy). Prints p50/p95 in ms, 16-client throughput, load times, each shard's RSS against
its bitmaps and dictionary, and how long a shard killed with SIGKILL takes to serve again.
"""

from __future__ import annotations

import argparse
import datetime
import json
import multiprocessing
import os
import pathlib
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.adeffect import EVENTS, START, generate_events  # noqa: E402
from bench.run import Q1, Q2, batch_expressions, throughput  # noqa: E402
from dolphin.client import Client  # noqa: E402
from dolphin.demo import generate  # noqa: E402

Q3_PROFILE = "profile x300"  # the city profile of q2: 300 values
SEED = "interest=tennis AND city=Hangzhou"
CANDIDATES = "gender=F"
DAYS = 7


def dolphin(*args: str) -> list[str]:
    return [sys.executable, "-m", "dolphin", *args]


def wait_ready(target: str, proc: subprocess.Popen[bytes], timeout: float = 900) -> float:
    """Wait until target answers a count; return the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if proc.poll() is not None:
            raise SystemExit(f"server for {target} exited with {proc.returncode}")
        try:
            with Client(target, timeout=2, retries=0) as c:
                c.count("ALL")
                return time.monotonic() - started
        except Exception:  # noqa: BLE001 - not serving yet
            time.sleep(0.05)
    raise SystemExit(f"{target} did not serve within {timeout} s")


def process_table() -> list[tuple[int, int, int, str]]:
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid=,rss=,args="], capture_output=True, text=True).stdout
    rows = []
    for line in out.split("\n"):
        parts = line.split(None, 3)
        if len(parts) >= 3:
            rows.append((int(parts[0]), int(parts[1]), int(parts[2]), parts[3] if len(parts) > 3 else ""))
    return rows


def tree(pid: int) -> list[tuple[int, int, str]]:
    """(pid, rss bytes, args) of a process and all its descendants."""
    rows = process_table()
    children: dict[int, list[int]] = {}
    info = {p: (r * 1024, a) for p, _, r, a in rows}
    for p, parent, _, _ in rows:
        children.setdefault(parent, []).append(p)
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        if p in info:
            out.append((p, *info[p]))
        todo.extend(children.get(p, []))
    return out


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50": round(statistics.median(ordered) * 1000, 3),
            "p95": round(ordered[int(len(ordered) * 0.95)] * 1000, 3)}


def write_vectors(users: pl.Series, count: int, dim: int, path: pathlib.Path) -> np.ndarray:
    """Write clustered embeddings of the first `count` users; return them as unit vectors."""
    rng = np.random.default_rng(5)
    centers = rng.standard_normal((max(10, count // 1000), dim)).astype(np.float32)
    vectors = centers[rng.integers(0, len(centers), count)] + 0.9 * rng.standard_normal((count, dim)).astype(
        np.float32)
    pl.DataFrame({"user_id": users[:count], "embedding": vectors}).write_parquet(path)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def exact_top(unit: np.ndarray, ids: np.ndarray, seed: set[str], pool: set[str], k: int) -> set[str]:
    """The true top k of a CENTROID lookalike, by NumPy over every vector."""
    text = ids.astype(str)
    in_seed = np.isin(text, list(seed))
    query = unit[in_seed].mean(axis=0)
    scores = unit @ (query / np.linalg.norm(query))
    scores[~np.isin(text, list(pool - seed))] = -np.inf
    return set(text[np.argsort(-scores)[:k]])


def load(args: list[str], loads: dict[str, float], name: str) -> None:
    started = time.perf_counter()
    subprocess.run(dolphin(*args), check=True, stdout=subprocess.DEVNULL)
    loads[name] = round(loads.get(name, 0.0) + time.perf_counter() - started, 1)


def kill_a_shard(front: subprocess.Popen[bytes], client: Client, want: int) -> float:
    """SIGKILL one ray::Shard process of a front; return seconds until the front answers q2 correctly again."""
    shards = [p for p, _, a in tree(front.pid) if a.startswith("ray::Shard")]
    if not shards:
        return float("nan")
    os.kill(shards[0], signal.SIGKILL)
    started = time.monotonic()
    while time.monotonic() - started < 120:
        try:
            if client.count(Q2, timeout=2) == want:
                return time.monotonic() - started
        except Exception:  # noqa: BLE001 - UNAVAILABLE while Ray restarts it
            pass
        time.sleep(0.02)
    return float("inf")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--shards", default="2")
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--vector-users", type=int, default=2_000_000, help="users with an embedding; 0: none")
    parser.add_argument("--dim", type=int, default=32)
    parser.add_argument("--no-events", action="store_true")
    parser.add_argument("--throughput-seconds", type=float, default=10.0)
    parser.add_argument("--no-single", action="store_true", help="clusters only (when one process does not fit)")
    parser.add_argument("--work", default="/tmp/dolphin-bench-cluster")
    parser.add_argument("--reuse", action="store_true",
                        help="serve what an earlier run with the same flags generated and loaded into --work")
    args = parser.parse_args()
    work = pathlib.Path(args.work)
    vector_users = min(args.vector_users, args.users)
    shard_counts = [int(x) for x in args.shards.split(",")]
    names = ([] if args.no_single else ["1 process"]) + [f"{n} shards" for n in shard_counts]
    if args.reuse:
        ids = pl.read_parquet(users_input(work), columns=["user_id"])["user_id"]
        unit = None
        if vector_users:
            matrix = np.asarray(pl.read_parquet(work / "vectors.parquet")["embedding"].to_list(), np.float32)
            unit = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
        loads = json.loads((work / "loads.json").read_text())
    else:
        ids, unit, loads = prepare(work, args, names, vector_users)
    run(work, args, names, ids, unit, vector_users, loads)
    return 0


def prepare(work: pathlib.Path, args: argparse.Namespace, names: list[str], vector_users: int
            ) -> tuple[pl.Series, np.ndarray | None, dict[str, float]]:
    """Generate the inputs and load every system; return the user IDs, unit vectors and load seconds."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    started = time.perf_counter()
    # in a child process, 10M users at a time: the generator's peak memory must not stay in this process
    child = multiprocessing.get_context("spawn").Process(target=write_users, args=(work, args.users))
    child.start()
    child.join()
    if child.exitcode != 0:
        raise SystemExit(f"generating users failed ({child.exitcode})")
    ids = pl.read_parquet(users_input(work), columns=["user_id"])["user_id"]
    unit = write_vectors(ids, vector_users, args.dim, work / "vectors.parquet") if vector_users else None
    if not args.no_events:
        generate_events(ids.to_numpy(), 20, DAYS, work / "events.parquet")
    print(f"generated inputs in {time.perf_counter() - started:.0f} s", flush=True)
    loads: dict[str, float] = {}
    for name in names:
        place = ["--data-dir", str(work / "single")] if name == "1 process" else [
            "--data-root", str(work / name.replace(" ", "-"))]
        first = place + (["--shards", name.split()[0]] if name != "1 process" else [])
        load(["load", "tags", users_input(work), *first], loads, name)
        if not args.no_events:
            load(["load", "events", str(work / "events.parquet"), *place], loads, name)
        if vector_users:
            load(["load", "embeddings", str(work / "vectors.parquet"), *place], loads, name)
        print(f"loaded {name} in {loads[name]} s", flush=True)
    (work / "loads.json").write_text(json.dumps(loads))
    return ids, unit, loads


CHUNK = 10_000_000


def users_input(work: pathlib.Path) -> str:
    """The users' Parquet: one file up to 10M users, a glob of 10M-user files above."""
    return str(work / "users.parquet") if (work / "users.parquet").exists() else str(work / "users" / "*.parquet")


def write_users(work: pathlib.Path, users: int) -> None:
    """Write the demo population, 10M users per file (each chunk its own seed, its IDs moved past the last)."""
    if users <= CHUNK:
        generate(users, seed=1).write_parquet(work / "users.parquet")
        return
    (work / "users").mkdir()
    for chunk, start in enumerate(range(0, users, CHUNK)):
        part = generate(min(CHUNK, users - start), seed=1 + chunk)
        part = part.with_columns(pl.col("user_id") + chunk * 7 * CHUNK)
        part.write_parquet(work / "users" / f"users-{chunk:03d}.parquet")
        print(f"generated users {start + len(part):,}", flush=True)


def vector_bytes(data_dir: pathlib.Path) -> int:
    """Bytes of the served version's vectors and FAISS index (resident once opened)."""
    versions = sorted((data_dir / "versions").glob("*")) if (data_dir / "versions").exists() else []
    return sum(f.stat().st_size for f in versions[-1].glob("vector*")) if versions else 0


def run(work: pathlib.Path, args: argparse.Namespace, names: list[str], ids: pl.Series, unit: np.ndarray | None,
        vector_users: int, loads: dict[str, float]) -> None:
    """Serve every system, check the answers agree, time them and print the report."""
    systems: dict[str, tuple[str, subprocess.Popen[bytes]]] = {}
    port = 52100
    report: dict[str, Any] = {"users": args.users, "vector_users": vector_users, "load_seconds": loads}
    try:
        for name in names:
            port += 1
            command = (dolphin("serve", "--data-dir", str(work / "single")) if name == "1 process" else
                       dolphin("cluster", "serve", "--data-root", str(work / name.replace(" ", "-")),
                               "--cpus-per-shard", "0.5"))
            proc = subprocess.Popen([*command, "--port", str(port), "--watch-seconds", "0"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            systems[name] = (f"127.0.0.1:{port}", proc)
        report["start_seconds"] = {n: round(wait_ready(t, p), 1) for n, (t, p) in systems.items()}
        clients = {name: Client(target, timeout=120, retries=0) for name, (target, _) in systems.items()}
        batch = batch_expressions(100)
        start, end = START.isoformat(), (START + datetime.timedelta(days=DAYS - 1)).isoformat()
        calls: dict[str, Callable[[Client], Any]] = {
            "q1": lambda c: c.count(Q1),
            "q2": lambda c: c.count(Q2),
            Q3_PROFILE: lambda c: c.profile(Q2, dimensions=["city"], top_k=300),
            "export 10k": lambda c: next(iter(c.export_pages(Q2, page_size=10000, max_pages=1))),
            "BatchCount x100": lambda c: c.batch_count(batch),
        }
        if not args.no_events:
            calls["funnel"] = lambda c: c.funnel("c03", EVENTS, start, end, audience_expression=Q2)
        if vector_users:
            calls["lookalike k=1000"] = lambda c: c.lookalike(SEED, candidate_expression=CANDIDATES, k=1000)
        reference = clients[names[0]]
        checks: dict[str, Any] = {}
        for name, call in calls.items():
            want = call(reference)
            for system, client in clients.items():
                got = call(client)
                if name == "export 10k":  # pages differ in order on a cluster: compare the whole audience
                    assert got.total_count == want.total_count and len(got.user_ids) == len(want.user_ids)
                elif name.startswith("lookalike"):
                    assert got.seed_count == want.seed_count and got.candidates_count == want.candidates_count
                else:
                    for message in (got, want):
                        if hasattr(message, "snapshot_version"):
                            message.snapshot_version = 0
                    assert got == want, (name, system)
        whole = set(reference.export(Q2))
        for system, client in clients.items():
            assert set(client.export(Q2)) == whole, system
        checks["counts, profile, batch, funnel, full export"] = "identical"
        if vector_users and unit is not None:
            seed = set(reference.export(SEED))
            pool = set(reference.export(CANDIDATES))
            truth = exact_top(unit, ids[:vector_users].to_numpy(), seed, pool, 1000)
            checks["lookalike recall@1000 vs brute force"] = {
                system: round(len(truth & {u.user_id for u in calls["lookalike k=1000"](c).users}) / 1000, 3)
                for system, c in clients.items()}
        report["checks"] = checks
        print(json.dumps(checks), flush=True)
        samples: dict[str, dict[str, list[float]]] = {s: {n: [] for n in calls} for s in clients}
        rounds = 6
        for _ in range(rounds):
            for system, client in clients.items():
                for name, call in calls.items():
                    heavy = name in ("BatchCount x100", "lookalike k=1000", "funnel")
                    for _ in range(max(3, (args.iterations // 5 if heavy else args.iterations) // rounds)):
                        t = time.perf_counter()
                        call(client)
                        samples[system][name].append(time.perf_counter() - t)
        report["latency_ms"] = {system: {name: percentiles(s) for name, s in per.items()}
                                for system, per in samples.items()}
        report["q2_throughput_16_clients"] = {
            system: round(throughput(target, Q2, seconds=args.throughput_seconds))
            for system, (target, _) in systems.items()}
        memory: dict[str, Any] = {}
        for system, (_, proc) in systems.items():
            status = clients[system].status()
            memory[system] = {"rss_mib_all_processes": round(sum(r for _, r, _ in tree(proc.pid)) / 2**20),
                              "bitmap_mib": round(status.bitmap_bytes / 2**20),
                              "dictionary_mib": round(status.users * 8 / 2**20)}
            parts = [(s.rss_bytes, s.bitmap_bytes + s.users * 8,
                      vector_bytes(work / system.replace(" ", "-") / f"shard-{s.shard:03d}")) for s in status.shards]
            if not parts:
                parts = [(status.rss_bytes, status.bitmap_bytes + status.users * 8, vector_bytes(work / "single"))]
            memory[system]["per_process"] = [
                {"rss_mib": round(rss / 2**20), "bitmaps_dictionary_mib": round(data / 2**20),
                 "vectors_index_mib": round(vectors / 2**20), "rss_over_data": round(rss / (data + vectors), 2)}
                for rss, data, vectors in parts]
        report["memory"] = memory
        want_q2 = reference.count(Q2)
        report["shard_kill_to_serving_seconds"] = {
            system: round(kill_a_shard(proc, clients[system], want_q2), 2)
            for system, (_, proc) in systems.items() if system != "1 process"}
        print(json.dumps(report, indent=2))
        for client in clients.values():
            client.close()
    finally:
        for _, proc in systems.values():
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for _, proc in systems.values():
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


if __name__ == "__main__":
    raise SystemExit(main())
