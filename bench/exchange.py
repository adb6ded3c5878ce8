"""Audiences out as files and bitmaps (issue 13): the q2 audience (~310k users) and a ~5M-user audience as an ID
list, a Parquet file and a portable bitmap through the real server and client, side by side with DuckDB's
`COPY (SELECT ...) TO 'f.parquet'` and chdb building the same groupBitmap of external IDs, in one run; every
answer checked against the others.

    python bench/exchange.py                      # 10M users (reuses bench/work from bench/run.py)
    python bench/exchange.py --users 1000000
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
import polars as pl

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.peers import ChdbPeer, DuckDBPeer  # noqa: E402
from bench.run import BOOLS, KINDS, Q2, start_server, tag_data, users_parquet  # noqa: E402
from dolphin.client import Client  # noqa: E402
from dolphin.query import parse  # noqa: E402
from dolphin.storage.bitmap_formats import BitmapFormat, decode_ids  # noqa: E402
from loaders.audience_files import export_file  # noqa: E402

FULL = "device_os=android"  # about 53% of the users: 5.3M of 10M
AUDIENCES = {"q2": Q2, "5M": FULL}


def seconds_of(run: Callable[[], object], repeats: int) -> tuple[float, object]:
    """Return the median seconds of repeats runs, and the last run's result."""
    times = []
    result: object = None
    for _ in range(repeats):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    return round(statistics.median(times), 4), result


def measure_dolphin(target: str, work: pathlib.Path, repeats: dict[str, int]) -> tuple[dict[str, object], dict]:
    out: dict[str, object] = {}
    answers: dict[str, np.ndarray] = {}
    with Client(target, timeout=300) as client:
        for name, expression in AUDIENCES.items():
            n = repeats[name]
            ids_s, ids = seconds_of(lambda e=expression: np.concatenate(  # type: ignore[misc]
                [np.asarray(p, dtype=np.int64) for p in client.export_integers(e, page_size=10000)]), n)
            path = work / f"exchange-{name}.parquet"
            file_s, _ = seconds_of(lambda e=expression, p=path: export_file(client, e, p), n)  # type: ignore[misc]
            roaring_s, roaring = seconds_of(lambda e=expression: client.export_bitmap(e, "roaring"), n)  # type: ignore[misc]
            ch_s, ch = seconds_of(lambda e=expression: client.export_bitmap(e, "clickhouse"), n)  # type: ignore[misc]
            assert isinstance(ids, np.ndarray) and isinstance(roaring, bytes) and isinstance(ch, bytes)
            want = np.sort(ids.view(np.uint64))
            assert np.array_equal(np.sort(pl.read_parquet(path)["user_id"].to_numpy().view(np.uint64)), want)
            assert np.array_equal(decode_ids(roaring, BitmapFormat.ROARING), want)
            assert np.array_equal(decode_ids(ch, BitmapFormat.CLICKHOUSE), want)
            answers[name] = want
            out[name] = {"users": len(ids), "id_list_seconds": ids_s, "parquet_file_seconds": file_s,
                         "parquet_bytes": path.stat().st_size, "roaring_bitmap_seconds": roaring_s,
                         "roaring_bytes": len(roaring), "clickhouse_state_seconds": ch_s, "clickhouse_bytes": len(ch)}
            print(name, out[name], flush=True)
    return out, answers


def measure_duckdb(peer: DuckDBPeer, work: pathlib.Path, repeats: dict[str, int], answers: dict) -> dict[str, object]:
    out: dict[str, object] = {}
    for name, expression in AUDIENCES.items():
        path = work / f"duckdb-{name}.parquet"
        sql = f"COPY (SELECT user_id FROM users WHERE {peer.predicate(parse(expression))}) TO '{path}' (FORMAT parquet)"
        copy_s, _ = seconds_of(lambda s=sql: peer.con.execute(s), repeats[name])  # type: ignore[misc]
        got = np.sort(pl.read_parquet(path)["user_id"].to_numpy().view(np.uint64))
        out[name] = {"copy_to_parquet_seconds": copy_s, "parquet_bytes": path.stat().st_size,
                     "agrees": bool(np.array_equal(got, answers[name]))}
        print("duckdb", name, out[name], flush=True)
    return out


def measure_chdb(peer: ChdbPeer, repeats: dict[str, int], answers: dict) -> dict[str, object]:
    out: dict[str, object] = {}
    for name, expression in AUDIENCES.items():
        rows = f"bitmapToArray({peer.bitmap(parse(expression))})"
        sql = (f"SELECT hex(groupBitmapState(toUInt64(assumeNotNull(user_id)))) FROM users "
               f"WHERE rid IN (SELECT arrayJoin({rows}))")
        state_s, state = seconds_of(lambda s=sql: str(peer.s.query(s, "TSV")).strip(), repeats[name])  # type: ignore[misc]
        got = decode_ids(bytes.fromhex(str(state)), BitmapFormat.CLICKHOUSE)
        out[name] = {"group_bitmap_of_user_ids_seconds": state_s, "agrees": bool(np.array_equal(got, answers[name]))}
        print("chdb", name, out[name], flush=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=10_000_000)
    parser.add_argument("--work", default=str(ROOT / "bench" / "work"))
    parser.add_argument("--port", type=int, default=50094)
    parser.add_argument("--repeats", type=int, default=5, help="runs of the 5M-user exports (q2: 4x as many)")
    parser.add_argument("--no-peers", action="store_true")
    args = parser.parse_args()
    work = pathlib.Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    repeats = {"q2": 4 * args.repeats, "5M": args.repeats}
    parquet = users_parquet(work, args.users)
    data = tag_data(work, args.users)
    proc, _ = start_server(data, args.port, 1)
    report: dict[str, object] = {"users": args.users, "audiences": AUDIENCES}
    try:
        report["dolphin"], answers = measure_dolphin(f"127.0.0.1:{args.port}", work, repeats)
    finally:
        proc.terminate()
        proc.wait()
    if not args.no_peers:
        duck = DuckDBPeer(str(parquet), KINDS, BOOLS)
        report["duckdb"] = measure_duckdb(duck, work, repeats, answers)
        del duck
        chdb_peer = ChdbPeer(str(parquet), KINDS)
        report["chdb"] = measure_chdb(chdb_peer, repeats, answers)
        del chdb_peer
        ratios = {}
        for name in AUDIENCES:
            ours = report["dolphin"][name]  # type: ignore[index]
            copy = report["duckdb"][name]["copy_to_parquet_seconds"]  # type: ignore[index]
            ratios[name] = {"duckdb_file / dolphin_bitmap": round(copy / ours["roaring_bitmap_seconds"], 1),
                            "duckdb_file / dolphin_parquet": round(copy / ours["parquet_file_seconds"], 2),
                            "chdb_state / dolphin_clickhouse_state": round(
                                report["chdb"][name]["group_bitmap_of_user_ids_seconds"]  # type: ignore[index]
                                / ours["clickhouse_state_seconds"], 1)}
        report["ratios"] = ratios
    (work / f"exchange-report-{args.users}.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
