"""In-process engine counts at 10M users, back to back and at one call per 5 ms, on a data dir as it stands.

    python bench/paced_counts.py                                   # bench/stream.py's streamed state
    python bench/paced_counts.py --data bench/work/data-10000000   # bench/run.py's loaded data

Each iteration sleeps 5 ms, times one count (paced), then times the next right after it (back to back). On this
2-core machine work that follows idleness runs slower (bench/README.md, issue 14 sixth pass), and the server's
counts are paced by their callers, so the paced figure is the one a server's p50 is made of.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import Q1, Q2  # noqa: E402
from dolphin.engine.engine import Engine  # noqa: E402

QUERIES = {
    "q1": Q1,
    "five_terms": Q2,  # bench/stream.py's QUERY_5
    "four_terms": "age_band IN (25-34, 35-44) AND device_os=ios AND NOT member_level=bronze AND interest=travel",
}
PACE_SECONDS = 0.005


def p50s_us(engine: Engine, expression: str, iterations: int) -> dict[str, int]:
    """Return the back-to-back and paced p50 of engine.count(expression), in us."""
    for _ in range(30):
        engine.count(expression)
    back, paced = [], []
    for _ in range(iterations):
        time.sleep(PACE_SECONDS)
        started = time.perf_counter()
        engine.count(expression)
        paced.append(time.perf_counter() - started)
        started = time.perf_counter()
        engine.count(expression)
        back.append(time.perf_counter() - started)
    return {"back_to_back_us": round(statistics.median(back) * 1e6), "paced_us": round(statistics.median(paced) * 1e6)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=pathlib.Path, default=ROOT / "bench" / "work" / "stream-data-10000000")
    parser.add_argument("--iterations", type=int, default=300)
    args = parser.parse_args()
    engine = Engine(args.data)
    report = {name: p50s_us(engine, expression, args.iterations) for name, expression in QUERIES.items()}
    print(json.dumps({"data": str(args.data), **report}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
