"""Ad-effect benchmark: 10M users, 50 campaigns, 30 days, 4 events -> `dolphin load events` -> real server ->
funnels and lift over gRPC, and the same funnel in DuckDB from the event table, in the same run.

    python bench/adeffect.py                 # needs bench/work/users-10000000.parquet (bench/run.py makes it)
"""

from __future__ import annotations

import argparse
import datetime
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

from bench.peers import DuckDBPeer  # noqa: E402
from bench.run import BOOLS, KINDS, Q2, dolphin_cmd, rss_bytes, start_server, timed  # noqa: E402
from dolphin.client import Client  # noqa: E402
from dolphin.query import parse  # noqa: E402

EVENTS = ["impression", "click", "add_to_cart", "conversion"]
START = datetime.date(2026, 10, 1)


def generate_events(user_ids: np.ndarray, campaigns: int, days: int, path: pathlib.Path, seed: int = 0) -> int:
    """Write the event table; exposed users convert about 3x more than others. Returns the row count."""
    rng = np.random.default_rng(seed)
    n = len(user_ids)
    chunks: dict[str, list[np.ndarray]] = {"user_id": [], "campaign": [], "event": [], "day": []}
    for c in range(campaigns):
        reach = int(n * 0.002 * (1 + 4 / (1 + c)))  # a few large campaigns, many small ones
        for d in range(days):
            seen = rng.choice(n, reach, replace=False)
            clicked = seen[rng.random(reach) < 0.08]
            carted = clicked[rng.random(len(clicked)) < 0.3]
            converted = np.concatenate([carted[rng.random(len(carted)) < 0.4],
                                        rng.choice(n, reach // 200, replace=False)])
            for e, who in enumerate((seen, clicked, carted, converted)):
                who = np.concatenate([who, who[rng.random(len(who)) < 0.2]])  # repeats count once
                chunks["user_id"].append(user_ids[who])
                chunks["campaign"].append(np.full(len(who), c, np.int16))
                chunks["event"].append(np.full(len(who), e, np.int8))
                chunks["day"].append(np.full(len(who), d, np.int16))
    frame = pl.DataFrame({
        "user_id": np.concatenate(chunks["user_id"]),
        "campaign": pl.Series(np.concatenate(chunks["campaign"])).replace_strict(
            {i: f"c{i:02d}" for i in range(campaigns)}, return_dtype=pl.String).cast(pl.Categorical),
        "event": pl.Series(np.concatenate(chunks["event"])).replace_strict(
            dict(enumerate(EVENTS)), return_dtype=pl.String).cast(pl.Categorical),
        "date": pl.Series(np.concatenate(chunks["day"]).astype(np.int32) + (START - datetime.date(1970, 1, 1)).days
                          ).cast(pl.Date),
    })
    frame.write_parquet(path)
    return len(frame)


def duck_funnel(peer: DuckDBPeer, campaign: str, start: str, end: str, audience: str) -> list[int]:
    flags = ", ".join(f"bool_or(event = '{e}') AS s{i}" for i, e in enumerate(EVENTS))
    cumulative = ", ".join("sum((" + " AND ".join(f"s{j}" for j in range(i + 1)) + ")::INT)" for i in range(4))
    sql = (f"WITH s AS (SELECT user_id, {flags} FROM events WHERE campaign = '{campaign}' AND date BETWEEN "
           f"DATE '{start}' AND DATE '{end}' AND user_id IN (SELECT user_id FROM users WHERE "
           f"{peer.predicate(parse(audience))}) GROUP BY user_id) SELECT {cumulative} FROM s")
    return [int(x or 0) for x in peer.con.execute(sql).fetchone()]  # type: ignore[union-attr]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=10_000_000)
    parser.add_argument("--campaigns", type=int, default=50)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--port", type=int, default=50097)
    args = parser.parse_args()
    work = ROOT / "bench" / "work"
    users = work / f"users-{args.users}.parquet"
    if not users.exists():
        raise SystemExit(f"{users} is missing: run python bench/run.py --users {args.users} first")
    events = work / f"events-{args.users}.parquet"
    report: dict[str, object] = {"users": args.users, "campaigns": args.campaigns, "days": args.days}
    if not events.exists():
        started = time.perf_counter()
        rows = generate_events(pl.read_parquet(users, columns=["user_id"])["user_id"].to_numpy(),
                               args.campaigns, args.days, events)
        print(f"generated {rows} events in {time.perf_counter() - started:.0f} s", flush=True)
    report["event_rows"] = pl.scan_parquet(events).select(pl.len()).collect().item()
    data = work / f"adeffect-data-{args.users}"
    shutil.rmtree(data, ignore_errors=True)
    subprocess.run(dolphin_cmd("load", "tags", str(users), "--data-dir", str(data)), check=True, capture_output=True)
    started = time.perf_counter()
    out = subprocess.run(dolphin_cmd("load", "events", str(events), "--data-dir", str(data)), check=True,
                         capture_output=True, text=True)
    report["events_load_seconds"] = round(time.perf_counter() - started, 1)
    report["events_load_output"] = out.stdout.strip()
    print(out.stdout.strip(), flush=True)
    proc, report["restart_to_serving_seconds"] = start_server(data, args.port, 1)
    target = f"127.0.0.1:{args.port}"
    start, end = START.isoformat(), (START + datetime.timedelta(6)).isoformat()
    with Client(target, timeout=60) as client:
        report["bitmap_bytes"] = client.status().bitmap_bytes
        answer = [s.count for s in client.funnel("c03", EVENTS, start, end, audience_expression=Q2).stages]
        report["funnel_counts"] = answer
        report["funnel_4_stage_7_day_5_term_ms"] = timed(
            lambda: client.funnel("c03", EVENTS, start, end, audience_expression=Q2), args.iterations)
        report["funnel_breakdown_city_300_ms"] = timed(
            lambda: client.funnel("c03", EVENTS, start, end, audience_expression=Q2, breakdown_dimension="city",
                                  top_k=300), max(20, args.iterations // 5))
        report["lift_ms"] = timed(lambda: client.lift("c03", "impression", "conversion", start, end,
                                                      audience_expression=Q2), args.iterations)
        lift = client.lift("c03", "impression", "conversion", start, end, audience_expression=Q2)
        report["lift"] = {"exposed_rate": lift.exposed_rate, "unexposed_rate": lift.unexposed_rate,
                          "p_value": lift.p_value}
        report["event_term_count_ms"] = timed(
            lambda: client.count(f"{Q2} AND event(click, campaign=c03, from={start}, to={end})"), args.iterations)
    report["server_rss_bytes"] = rss_bytes(proc.pid)
    proc.terminate()
    proc.wait()
    peer = DuckDBPeer(str(users), KINDS, BOOLS)
    started = time.perf_counter()
    peer.con.execute(f"CREATE TABLE events AS SELECT * FROM read_parquet('{events}')")
    report["duckdb_events_load_seconds"] = round(time.perf_counter() - started, 1)
    duck = duck_funnel(peer, "c03", start, end, Q2)
    report["duckdb_agrees"] = duck == answer
    report["duckdb_funnel_ms"] = timed(lambda: duck_funnel(peer, "c03", start, end, Q2), 10, warmup=1)
    ours = report["funnel_4_stage_7_day_5_term_ms"]["p50"]  # type: ignore[index]
    report["duckdb_ratio_p50"] = round(report["duckdb_funnel_ms"]["p50"] / ours, 1)  # type: ignore[index]
    (work / f"adeffect-report-{args.users}.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
