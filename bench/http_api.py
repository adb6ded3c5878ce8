"""HTTP/JSON API against gRPC on the same server, in one run: Count, Profile and an Export page at 10M users.

    python bench/http_api.py                      # 10M users (the population of bench/run.py; generated if missing)
    python bench/http_api.py --users 1000000 --iterations 300

Both clients are the plain synchronous ones a script would use: `dolphin.Client` (grpcio) and one kept-alive
`http.client.HTTPConnection` that POSTs JSON and parses the reply. The server is one `dolphin serve
--http-port`, so both APIs run the same servicers on the same event loop; calls alternate between the two
APIs so drift of the machine hits both alike.
"""

from __future__ import annotations

import argparse
import http.client
import json
import pathlib
import shutil
import subprocess
import sys
import time
from collections.abc import Callable

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import Q1, Q2, dolphin_cmd, interleaved, rss_bytes, users_parquet  # noqa: E402
from dolphin.client import Client  # noqa: E402
from dolphin.v1 import audience_service_pb2 as pb  # noqa: E402


def start(data: pathlib.Path, port: int, http_port: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(dolphin_cmd("serve", "--data-dir", str(data), "--port", str(port), "--http-port",
                                        str(http_port), "--watch-seconds", "0"),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    while subprocess.run(dolphin_cmd("health", "--target", f"127.0.0.1:{port}", "--timeout", "1"),
                         capture_output=True).returncode != 0:
        if proc.poll() is not None:
            raise RuntimeError("server exited")
        time.sleep(0.1)
    return proc


class Http:
    """A kept-alive HTTP/1.1 connection posting proto3 JSON."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def call(self, method: str, body: dict[str, object]) -> object:
        self.connection.request("POST", f"/v1/dolphin.v1.AudienceService/{method}", json.dumps(body),
                                {"Content-Type": "application/json"})
        response = self.connection.getresponse()
        raw = response.read()
        if response.status != 200:
            raise RuntimeError(f"{response.status}: {raw[:200]!r}")
        if method == "Export":
            return [json.loads(line) for line in raw.splitlines()]
        return json.loads(raw)


def paired(grpc_call: Callable[[], object], http_call: Callable[[], object], n: int) -> dict[str, dict[str, float]]:
    """Time both calls n times each, alternating; return p50/p95/p99 in ms per API."""
    return interleaved({"grpc": grpc_call, "http": http_call}, n, warmup=5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=10_000_000)
    parser.add_argument("--work", default=str(ROOT / "bench" / "work"))
    parser.add_argument("--iterations", type=int, default=500)
    parser.add_argument("--port", type=int, default=50093)
    parser.add_argument("--http-port", type=int, default=50094)
    args = parser.parse_args()
    work = pathlib.Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    parquet = users_parquet(work, args.users)
    data = work / f"data-http-{args.users}"
    shutil.rmtree(data, ignore_errors=True)
    subprocess.run(dolphin_cmd("load", "tags", str(parquet), "--data-dir", str(data)), check=True,
                   capture_output=True)
    proc = start(data, args.port, args.http_port)
    report: dict[str, object] = {"users": args.users, "iterations": args.iterations}
    try:
        web = Http(args.http_port)
        with Client(f"127.0.0.1:{args.port}", timeout=60) as client:
            assert int(web.call("Count", {"expression": Q2})["count"]) == client.count(Q2)  # type: ignore[index]
            n = args.iterations
            report["q1 count"] = paired(lambda: client.count(Q1), lambda: web.call("Count", {"expression": Q1}), n)
            report["q2 count"] = paired(lambda: client.count(Q2), lambda: web.call("Count", {"expression": Q2}), n)
            report["profile x300"] = paired(
                lambda: client.profile(Q2, dimensions=["city"], top_k=300),
                lambda: web.call("Profile", {"expression": Q2, "dimensions": ["city"], "topK": 300}), max(50, n // 5))
            report["export 10k page"] = paired(
                lambda: list(client.audiences.Export(pb.ExportRequest(expression=Q2, page_size=10000, max_pages=1))),
                lambda: web.call("Export", {"expression": Q2, "pageSize": 10000, "maxPages": 1}), max(50, n // 5))
        report["ratio_http_over_grpc_p50"] = {
            query: round(r["http"]["p50"] / r["grpc"]["p50"], 2)  # type: ignore[index]
            for query, r in report.items() if isinstance(r, dict) and "http" in r}
        report["rss_bytes"] = rss_bytes(proc.pid)
    finally:
        proc.terminate()
        proc.wait()
    (work / f"http-{args.users}.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
