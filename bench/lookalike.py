"""Lookalike benchmark: clustered embeddings -> `dolphin load embeddings` -> real server -> Lookalike over gRPC.

    python bench/lookalike.py                       # 1,000,000 users x 64 dimensions
    python bench/lookalike.py --users 10000000 --dim 32

Reports index build time and size, server RSS, p50/p95 of top-1,000 and top-100,000 from a 5,000-user seed with a
30% candidate pool, recall@1000 of the approximate path against exact NumPy search, the recall/latency curve
over nprobe, and how much of a hidden 20% of the seed's clusters each method recovers.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import shutil
import subprocess
import sys
import time

import numpy as np
import polars as pl

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import dolphin_cmd, rss_bytes, start_server, timed  # noqa: E402
from dolphin.client import Client  # noqa: E402

REGIONS = [f"r{i}" for i in range(10)]
POOL = "region IN (r0, r1, r2)"  # 30% of users


def generate(users: int, dim: int, work: pathlib.Path, seed: int = 0, write: bool = True) -> dict[str, object]:
    """Return the world (unit vectors, seed, hidden users, regions); write its Parquet files unless write is False."""
    rng = np.random.default_rng(seed)
    clusters = max(10, users // 1000)
    centers = rng.standard_normal((clusters, dim)).astype(np.float32)
    cluster = rng.integers(0, clusters, users)
    vectors = np.empty((users, dim), dtype=np.float32)
    for start in range(0, users, 1_000_000):
        part = slice(start, start + 1_000_000)
        vectors[part] = centers[cluster[part]] + 0.9 * rng.standard_normal((len(cluster[part]), dim)).astype(np.float32)
    planted = np.flatnonzero(np.isin(cluster, np.arange(6)))
    seed_users = np.sort(rng.choice(planted, min(5000, int(0.8 * len(planted))), replace=False))
    hidden = np.setdiff1d(planted, seed_users)
    user_ids = np.arange(users, dtype=np.int64)
    seed_mask = np.zeros(users, dtype=bool)
    seed_mask[seed_users] = True
    region = np.array(REGIONS)[rng.integers(0, 10, users)]
    if write:
        pl.DataFrame({"user_id": user_ids, "region": region,
                      "seed": pl.Series(seed_mask).replace_strict({True: "yes", False: None}, return_dtype=pl.String)}
                     ).write_parquet(work / "tags.parquet")
        pl.DataFrame({"user_id": user_ids, "embedding": vectors}).write_parquet(work / "vectors.parquet")
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return {"unit": unit, "seed": seed_users, "hidden": hidden, "region": region}


def exact_top(world: dict[str, object], k: int) -> set[str]:
    unit = world["unit"]
    query = unit[world["seed"]].mean(axis=0)  # type: ignore[index]
    query /= np.linalg.norm(query)
    pool = np.isin(world["region"], ["r0", "r1", "r2"])  # type: ignore[arg-type]
    pool[world["seed"]] = False  # type: ignore[index]
    candidates = np.flatnonzero(pool)
    scores = unit[candidates] @ query  # type: ignore[index]
    return {str(u) for u in candidates[np.argpartition(-scores, k)[:k]]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--port", type=int, default=50095)
    parser.add_argument("--reuse", action="store_true",
                        help="keep the data dir of an earlier run (same --users and --dim): no generation or load")
    parser.add_argument("--skip-quality", action="store_true", help="leave out the holdout-quality runs")
    args = parser.parse_args()
    work = ROOT / "bench" / "work" / f"lookalike-{args.users}x{args.dim}"
    data = work / "data"
    reuse = args.reuse and (data / "versions").exists()
    report: dict[str, object] = {"users": args.users, "dim": args.dim}
    if reuse:
        world = generate(args.users, args.dim, work, write=False)
    else:
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        world = generate(args.users, args.dim, work)
        subprocess.run(dolphin_cmd("load", "tags", str(work / "tags.parquet"), "--data-dir", str(data)), check=True,
                       capture_output=True)
        started = time.perf_counter()
        out = subprocess.run(dolphin_cmd("load", "embeddings", str(work / "vectors.parquet"), "--data-dir",
                                         str(data)), check=True, capture_output=True, text=True)
        report["embeddings_load_seconds"] = round(time.perf_counter() - started, 1)
        report["embeddings_load_output"] = out.stdout.strip()
        print(out.stdout.strip(), flush=True)
    version = sorted((data / "versions").iterdir())[-1]
    report["index_bytes"] = (version / "vectors.faiss").stat().st_size
    report["vectors_bytes"] = (version / "vectors.npy").stat().st_size
    proc, report["restart_to_serving_seconds"] = start_server(data, args.port, 1)
    target = f"127.0.0.1:{args.port}"
    with Client(target, timeout=120) as client:
        first = client.lookalike("seed=yes", candidate_expression=POOL, k=1000)
        truth = exact_top(world, 1000)
        report["default_nprobe"] = first.nprobe
        report["recall_at_1000_default"] = len(truth & set(u.user_id for u in first.users)) / 1000
        report["top1000_ms"] = timed(lambda: client.lookalike("seed=yes", candidate_expression=POOL, k=1000),
                                     args.iterations)
        big = client.lookalike("seed=yes", candidate_expression=POOL, k=100_000)
        report["top100k_path"] = big.search_path
        report["top100k_ms"] = timed(lambda: client.lookalike("seed=yes", candidate_expression=POOL, k=100_000),
                                     max(5, args.iterations // 10), warmup=1)
        curve = []
        for nprobe in (16, 64, 256, 512, 1024, 2048):
            result = client.lookalike("seed=yes", candidate_expression=POOL, k=1000, nprobe=nprobe)
            recall = len(truth & set(u.user_id for u in result.users)) / 1000
            latency = timed(lambda n=nprobe: client.lookalike("seed=yes", candidate_expression=POOL, k=1000, nprobe=n),
                            max(10, args.iterations // 4))
            curve.append({"nprobe": nprobe, "recall": recall, "p50_ms": round(latency["p50"], 2)})
        report["curve"] = curve
        hidden = {str(u) for u in world["hidden"]}  # type: ignore[attr-defined]
        quality = {}
        for method in () if args.skip_quality else ("centroid", "multi_centroid", "knn_vote"):
            k = 2 * len(hidden)
            result = client.lookalike("seed=yes", k=k, method=method)
            found = len(hidden & set(u.user_id for u in result.users))
            quality[method] = {"k": k, "hidden_found": found, "hidden": len(hidden),
                               "share": round(found / len(hidden), 3), "chance": round(k / args.users, 4),
                               "ms": round(result.elapsed_ms, 1), "path": result.search_path}
        report["holdout_quality"] = quality
    report["server_rss_bytes"] = rss_bytes(proc.pid)
    proc.terminate()
    proc.wait()
    (work.parent / f"lookalike-report-{args.users}x{args.dim}.json").write_text(json.dumps(report, indent=1))
    print(json.dumps({k: v for k, v in report.items()}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
