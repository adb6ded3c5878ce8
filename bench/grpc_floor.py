"""Counts and export pages at the floor (issue 14, item 5): Dolphin's q1 count and a one-page export, side by side
with a bare grpc.aio server answering the same RPCs with prebuilt responses, in one run, calls interleaved.

The bare server is the floor: the same protos, the same client stub, one process, no interceptors, no engine. Its
Export yields one prebuilt 10,000-ID int64 page after one thread hop (a real export needs a worker); its ExportPage
(the unary one-page call) returns the same page at once, as Dolphin's first page is made on the event loop. The
report also gives Dolphin's own engine time for q1 in-process, so what remains between the two is the server's
path. The counts are timed first on their own (bare, q1, and a one-tag count whose engine time is a few us), then
everything interleaved: there the exports between two q1 calls push q1's bitmaps out of the caches.

    python bench/grpc_floor.py                       # 10M users (reuses bench/work from bench/run.py)
    python bench/grpc_floor.py --users 1000000 --iterations 300
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import pathlib
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import Q1, Q2, interleaved, start_server, tag_data, timed  # noqa: E402

ONE_TAG = "vip=true"  # a count whose engine time is a few us: what is left above the floor is the server's path


def bare_server(port: int, ready: multiprocessing.synchronize.Event) -> None:
    """Serve AudienceService's Count and Export with prebuilt responses (Export after one thread hop) until killed;
    set ready once listening."""
    import asyncio

    import grpc

    from dolphin.engine.results import ExportPage
    from dolphin.server import convert
    from dolphin.v1 import audience_service_pb2 as aud_pb
    from dolphin.v1 import audience_service_pb2_grpc as aud_grpc

    page = convert.export_page(ExportPage([], "t" * 60, 1, 310_561, np.arange(10_000, dtype=np.int64)))
    unary_page = convert.export_page_response(ExportPage([], "t" * 60, 1, 310_561, np.arange(10_000, dtype=np.int64)))
    count = aud_pb.CountResponse(count=310_561, snapshot_version=1)

    class Bare(aud_grpc.AudienceServiceServicer):
        async def Count(self, request: object, context: object) -> aud_pb.CountResponse:
            return count

        async def Export(self, request: object, context: object):  # type: ignore[no-untyped-def]
            await asyncio.get_running_loop().run_in_executor(None, lambda: None)
            yield page

        async def ExportPage(self, request: object, context: object) -> aud_pb.ExportPageResponse:
            return unary_page

    async def serve() -> None:
        server = grpc.aio.server()
        aud_grpc.add_AudienceServiceServicer_to_server(Bare(), server)
        server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        ready.set()
        await server.wait_for_termination()

    asyncio.run(serve())


def engine_times(data: pathlib.Path, n: int) -> dict[str, float]:
    """Return Dolphin's own p50 for q1/q2 counts and the first int64 page of q2, in-process, ms."""
    from dolphin.engine.engine import Engine

    engine = Engine(data)
    calls = {"q1 count": lambda: engine.count(Q1), "one-tag count": lambda: engine.count(ONE_TAG),
             "q2 count": lambda: engine.count(Q2),
             "q2 10k int64 page": lambda: engine.export_cursor(Q2, page_size=10_000, integers=True).next_page()}
    return {name: round(timed(fn, n)["p50"], 3) for name, fn in calls.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=10_000_000)
    parser.add_argument("--work", default=str(ROOT / "bench" / "work"))
    parser.add_argument("--iterations", type=int, default=1000)
    parser.add_argument("--port", type=int, default=50094)
    args = parser.parse_args()
    import grpc

    from dolphin.v1 import audience_service_pb2 as aud_pb
    from dolphin.v1 import audience_service_pb2_grpc as aud_grpc

    work = pathlib.Path(args.work)
    data = tag_data(work, args.users)
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    bare = ctx.Process(target=bare_server, args=(args.port + 1, ready), daemon=True)
    bare.start()
    proc, _ = start_server(data, args.port, 1)
    try:
        ready.wait(60)
        stubs = {}
        for name, port in (("bare", args.port + 1), ("dolphin", args.port)):
            channel = grpc.insecure_channel(f"127.0.0.1:{port}")
            grpc.channel_ready_future(channel).result(timeout=30)
            stubs[name] = aud_grpc.AudienceServiceStub(channel)
        q1 = aud_pb.CountRequest(expression=Q1)
        page = aud_pb.ExportRequest(expression=Q2, page_size=10_000, max_pages=1,
                                    id_encoding=aud_pb.ID_ENCODING_INT64)
        one_page = aud_pb.ExportPageRequest(expression=Q2, page_size=10_000, id_encoding=aud_pb.ID_ENCODING_INT64)
        assert stubs["dolphin"].Count(q1).count > 0
        one_tag = aud_pb.CountRequest(expression=ONE_TAG)
        report: dict[str, object] = {"users": args.users, "iterations": args.iterations}
        # counts alone first: interleaved with exports, q1's bitmaps are out of cache by its turn (the pacing effect)
        report["grpc_counts_alone"] = interleaved({
            "bare Count": lambda: stubs["bare"].Count(q1),
            "dolphin q1 Count": lambda: stubs["dolphin"].Count(q1),
            "dolphin one-tag Count": lambda: stubs["dolphin"].Count(one_tag),
        }, args.iterations, warmup=20)
        report["grpc"] = interleaved({
            "bare Count": lambda: stubs["bare"].Count(q1),
            "dolphin q1 Count": lambda: stubs["dolphin"].Count(q1),
            "bare Export 10k int64": lambda: [np.asarray(m.int_user_ids) for m in stubs["bare"].Export(page)],
            "dolphin Export 10k int64 (q2)": lambda: [np.asarray(m.int_user_ids)
                                                      for m in stubs["dolphin"].Export(page)],
            "bare ExportPage 10k int64": lambda: np.asarray(stubs["bare"].ExportPage(one_page).int_user_ids),
            "dolphin ExportPage 10k int64 (q2)": lambda: np.asarray(
                stubs["dolphin"].ExportPage(one_page).int_user_ids),
        }, args.iterations, warmup=20)
    finally:
        proc.terminate()
        proc.wait()
        bare.terminate()
        bare.join()
    report["engine_in_process_p50_ms"] = engine_times(data, args.iterations)
    grpc_times = report["grpc"]
    assert isinstance(grpc_times, dict)
    alone = report["grpc_counts_alone"]
    assert isinstance(alone, dict)
    report["counts_alone_q1_minus_floor_ms"] = round(alone["dolphin q1 Count"]["p50"] - alone["bare Count"]["p50"], 3)
    report["counts_alone_one_tag_minus_floor_ms"] = round(
        alone["dolphin one-tag Count"]["p50"] - alone["bare Count"]["p50"], 3)
    report["q1_minus_floor_ms"] = round(grpc_times["dolphin q1 Count"]["p50"] - grpc_times["bare Count"]["p50"], 3)
    report["export_minus_floor_ms"] = round(grpc_times["dolphin Export 10k int64 (q2)"]["p50"]
                                            - grpc_times["bare Export 10k int64"]["p50"], 3)
    report["export_page_minus_floor_ms"] = round(grpc_times["dolphin ExportPage 10k int64 (q2)"]["p50"]
                                                 - grpc_times["bare ExportPage 10k int64"]["p50"], 3)
    (work / f"grpc-floor-{args.users}.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
