"""Export benchmark (issue 14, item 1): one 10,000-ID page of the q2 audience and a full export of a ~5M-user
audience, as text and as int64 pages, through the real server and client, side by side with DuckDB and chdb
over the same Parquet in the same run; answers checked against both.

    python bench/export.py                       # 10M users (reuses bench/work from bench/run.py)
    python bench/export.py --users 1000000 --iterations 100
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

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.grpc_floor import bare_server  # noqa: E402
from bench.peers import ChdbPeer, DuckDBPeer  # noqa: E402
from bench.run import BOOLS, KINDS, Q2, rss_bytes, start_server, tag_data, timed, users_parquet  # noqa: E402
from dolphin.client import Client  # noqa: E402

FULL = "device_os=android"  # about 53% of the users: 5.3M of 10M


def full_rate(export: Callable[[], int], repeats: int) -> dict[str, float]:
    """Return the median seconds of a full export and its IDs per second."""
    seconds = []
    ids = 0
    for _ in range(repeats):
        started = time.perf_counter()
        ids = export()
        seconds.append(time.perf_counter() - started)
    median = statistics.median(seconds)
    return {"ids": ids, "seconds": round(median, 3), "ids_per_second": round(ids / median)}


def measure_floor(port: int, n: int) -> dict[str, dict[str, float]]:
    """Return the latency of a bare one-page stream (what gRPC and one thread hop cost without Dolphin) and of a
    bare unary ExportPage."""
    import multiprocessing

    import grpc

    from dolphin.v1 import audience_service_pb2 as aud_pb
    from dolphin.v1 import audience_service_pb2_grpc as aud_grpc

    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    server = ctx.Process(target=bare_server, args=(port, ready), daemon=True)
    server.start()
    try:
        ready.wait(60)
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        grpc.channel_ready_future(channel).result(timeout=30)
        stub = aud_grpc.AudienceServiceStub(channel)
        request = aud_pb.ExportRequest(expression="ALL")
        page = aud_pb.ExportPageRequest(expression="ALL")
        return {"stream": timed(lambda: [np.array(m.int_user_ids) for m in stub.Export(request)], n),
                "unary ExportPage": timed(lambda: np.array(stub.ExportPage(page).int_user_ids), n)}
    finally:
        server.terminate()
        server.join()


def measure_dolphin(target: str, n: int, repeats: int) -> tuple[dict[str, object], dict[str, np.ndarray]]:
    out: dict[str, object] = {}
    with Client(target, timeout=120) as client:
        answers = {"page": np.asarray(next(client.export_integers(Q2, page_size=10000, max_pages=1))),
                   "full": np.concatenate(list(client.export_integers(FULL, page_size=10000)))}
        text = [int(u) for u in next(client.export_pages(Q2, page_size=10000, max_pages=1)).user_ids]
        assert text == answers["page"].tolist(), "text and int64 pages differ"
        unary = np.asarray(client.export_page(Q2, page_size=10000, integers=True).int_user_ids)
        assert unary.tolist() == answers["page"].tolist(), "ExportPage and Export's first page differ"
        out["page 10k text"] = timed(
            lambda: list(next(client.export_pages(Q2, page_size=10000, max_pages=1)).user_ids), n)
        out["page 10k int64"] = timed(
            lambda: np.asarray(next(client.export_integers(Q2, page_size=10000, max_pages=1))), n)
        out["page 10k int64, unary ExportPage"] = timed(
            lambda: np.asarray(client.export_page(Q2, page_size=10000, integers=True).int_user_ids), n)
        out["page 10 int64"] = timed(
            lambda: np.asarray(next(client.export_integers(Q2, page_size=10, max_pages=1))), n)
        out["count q2 (for scale)"] = timed(lambda: client.count(Q2), n)
        out["full text"] = full_rate(lambda: sum(1 for _ in client.export(FULL, page_size=10000)), repeats)
        out["full int64"] = full_rate(
            lambda: sum(len(np.asarray(a)) for a in client.export_integers(FULL, page_size=10000)), repeats)
    return out, answers


def measure_peer(peer: DuckDBPeer | ChdbPeer, n: int, repeats: int) -> tuple[dict[str, object], dict[str, np.ndarray]]:
    answers = {"page": peer.export_integers(Q2, 10000), "full": peer.export_integers(FULL)}
    out: dict[str, object] = {
        "page 10k text": timed(lambda: peer.export(Q2, 10000), n),
        "page 10k int64": timed(lambda: peer.export_integers(Q2, 10000), n),
        "page 10 int64": timed(lambda: peer.export_integers(Q2, 10), n),
        "full int64": full_rate(lambda: len(peer.export_integers(FULL)), repeats),
    }
    return out, answers


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=10_000_000)
    parser.add_argument("--work", default=str(ROOT / "bench" / "work"))
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5, help="full exports per system")
    parser.add_argument("--port", type=int, default=50092)
    parser.add_argument("--no-peers", action="store_true")
    args = parser.parse_args()
    work = pathlib.Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    parquet = users_parquet(work, args.users)
    data = tag_data(work, args.users)
    proc, _ = start_server(data, args.port, 1)
    report: dict[str, object] = {"users": args.users, "full_expression": FULL,
                                 "bare_grpc_10k_page": measure_floor(args.port + 1, args.iterations)}
    try:
        report["dolphin"], answers = measure_dolphin(f"127.0.0.1:{args.port}", args.iterations, args.repeats)
        report["dolphin_rss_after"] = rss_bytes(proc.pid)
    finally:
        proc.terminate()
        proc.wait()
    print(json.dumps(report["dolphin"], indent=1), flush=True)
    if not args.no_peers:
        for name, make in (("duckdb", lambda: DuckDBPeer(str(parquet), KINDS, BOOLS)),
                           ("chdb", lambda: ChdbPeer(str(parquet), KINDS))):
            peer = make()
            results, peer_answers = measure_peer(peer, max(30, args.iterations // 5), args.repeats)
            report[name] = results
            report[f"{name}_agrees"] = {k: bool(np.array_equal(peer_answers[k], answers[k])) for k in answers}
            print(name, json.dumps(results, indent=1), report[f"{name}_agrees"], flush=True)
            del peer
    (work / f"export-report-{args.users}.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
