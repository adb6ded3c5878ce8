"""Stream ingest benchmark at 10M users, through the real server and gRPC.

    python bench/stream.py                         # needs bench/work/data-10000000 (python bench/run.py makes it)
    python bench/stream.py --phases capacity,sink

Phases:
  capacity   mutations/s with --fsync batch: pre-serialized 5,000-mutation batches from one producer process,
             ack latency p50/p99 (send of a batch -> its ack)
  sink       the same through dolphin.sink.Sink.write, one call per mutation (the Python producer's own cost)
  queries    2-tag and 5-term count p50/p99 while a paced producer ingests at half the capacity (target < 2 ms p50),
             one call every 5 ms, beside a bare grpc.aio Count asked at the same pace (the floor of such a call)
  checkpoint how long queries and ingest are held by a checkpoint, and the checkpoint's own time
  recovery   kill -9 with 5M mutations in the log after the last checkpoint; time until a query is answered
  events     campaign events/s with --fsync batch (ADD_EVENT: 10 campaigns, impression 70% / click 20% / add_cart
             7% / conversion 3%, over the 7 days 2026-11-24..30), one producer process as in capacity
  funnel     a 4-stage 7-day funnel of campaign c0 (the one streamed into most) p50/p99, idle and while a paced
             producer streams events at half the events capacity (target < 5 ms p50 while ingesting)

Mutations: SET city (one of 300 values) 40%, ADD interest 40%, REMOVE interest 20%, over the existing 10M users
(plus 1% new ones). Results go to bench/work/stream-report-<users>.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import pathlib
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import grpc  # noqa: E402

from bench.grpc_floor import bare_server  # noqa: E402
from dolphin.client import Client  # noqa: E402
from dolphin.sink import Sink  # noqa: E402
from dolphin.v1 import ingest_service_pb2 as pb  # noqa: E402

BATCH = 5000
ROWS, TEXT_COLUMNS, INT_COLUMNS = 0, 1, 2  # how producers send batches
QUERY = "gender=F AND interest=tennis"
QUERY_5 = "gender=F AND city IN (Hangzhou, Shanghai) AND interest=tennis AND NOT vip=true"  # bench/run.py's q2
OPS = np.array([pb.MUTATION_OP_SET, pb.MUTATION_OP_ADD, pb.MUTATION_OP_REMOVE])


def mutations(users: int, n: int, seed: int) -> tuple[list[str], np.ndarray, list[str], list[str]]:
    """Return columns of n random mutations (user IDs as the int64 text of the demo data)."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, users, n) * 7 + 10_000_000  # the demo's IDs
    fresh = rng.random(n) < 0.01
    ids[fresh] = rng.integers(10**12, 2 * 10**12, int(fresh.sum()))
    ops = OPS[rng.choice(3, n, p=[0.4, 0.4, 0.2])]
    dims = np.where(ops == pb.MUTATION_OP_SET, "city", "interest")
    values = np.where(ops == pb.MUTATION_OP_SET, np.char.add("city_", (rng.zipf(1.3, n) % 300).astype(str)),
                      np.char.add("interest_", (rng.zipf(1.3, n) % 200).astype(str)))
    return ids.astype(str).tolist(), ops, dims.tolist(), values.tolist()


EVENT_DAYS = [f"2026-11-{d}" for d in range(24, 31)]
FUNNEL = ["impression", "click", "add_cart", "conversion"]


def columns_message(source: str, offset: int, ids: list[str], ops: list[int], dims: list[str], values: list[str],
                    dates: list[str] | None, int_ids: bool = False) -> pb.MutationBatch:
    """Return one batch as MutationColumns (a string table and indexes), what dolphin.sink sends; with int_ids,
    the user IDs go as packed integers (int_user_ids)."""
    strings: dict[str, int] = {"": 0}
    index = strings.setdefault
    users = {"int_user_ids": [int(u) for u in ids]} if int_ids else {"user_ids": ids}
    columns = pb.MutationColumns(**users, ops=bytes(ops), dimensions=[index(d, len(strings)) for d in dims],
                                 values=[index(v, len(strings)) for v in values],
                                 dates=[index(d, len(strings)) for d in dates] if dates else [])
    columns.strings.extend(strings)
    return pb.MutationBatch(source=source, offset=offset, columns=columns)


def serialized_event_batches(users: int, batches: int, source: str, seed: int, columnar: int = 0
                             ) -> list[bytes]:
    """Return ADD_EVENT batches as wire bytes: a Zipf-ish campaign mix, funnel-shaped event shares, 7 days."""
    rng = np.random.default_rng(seed)
    n = batches * BATCH
    ids = (rng.integers(0, users, n) * 7 + 10_000_000).astype(str).tolist()
    campaigns = np.char.add("c", (rng.zipf(1.5, n) % 10).astype(str)).tolist()
    events = np.array(FUNNEL)[rng.choice(4, n, p=[0.70, 0.20, 0.07, 0.03])].tolist()
    days = np.array(EVENT_DAYS)[rng.integers(0, 7, n)].tolist()
    out = []
    for b in range(batches):
        lo, hi = b * BATCH, (b + 1) * BATCH
        if columnar:
            message = columns_message(source, b, ids[lo:hi], [pb.MUTATION_OP_ADD_EVENT] * BATCH, campaigns[lo:hi],
                                      events[lo:hi], days[lo:hi], int_ids=columnar == INT_COLUMNS)
        else:
            message = pb.MutationBatch(source=source, offset=b, mutations=[
                pb.Mutation(user_id=ids[i], op=pb.MUTATION_OP_ADD_EVENT, campaign=campaigns[i], event=events[i],
                            date=days[i]) for i in range(lo, hi)])
        out.append(message.SerializeToString())
    return out


def serialized_batches(users: int, batches: int, source: str, seed: int, columnar: int = 0) -> list[bytes]:
    """Return batches as wire bytes (built up front, so the producer costs nothing while measuring)."""
    ids, ops, dims, values = mutations(users, batches * BATCH, seed)
    out = []
    for b in range(batches):
        lo, hi = b * BATCH, (b + 1) * BATCH
        if columnar:
            message = columns_message(source, b, ids[lo:hi], ops[lo:hi].tolist(), dims[lo:hi], values[lo:hi], None,
                                      int_ids=columnar == INT_COLUMNS)
        else:
            message = pb.MutationBatch(source=source, offset=b, mutations=[
                pb.Mutation(user_id=ids[i], op=int(ops[i]), dimension=dims[i], value=values[i])  # type: ignore[arg-type]
                for i in range(lo, hi)])
        out.append(message.SerializeToString())
    return out


def stream_raw(target: str, payloads: list[bytes], pace: float = 0.0) -> dict[str, float]:
    """Send pre-serialized batches on one Mutate stream; return throughput and ack latencies."""
    sent_at: list[float] = []

    def requests() -> Iterator[bytes]:
        next_at = time.perf_counter()
        for payload in payloads:
            if pace:
                next_at += pace
                delay = next_at - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            sent_at.append(time.perf_counter())
            yield payload

    latencies = []
    with grpc.insecure_channel(target, options=[("grpc.max_send_message_length", 64 << 20)]) as channel:
        call = channel.stream_stream("/dolphin.v1.IngestService/Mutate", request_serializer=None,
                                     response_deserializer=pb.MutationAck.FromString)
        started = time.perf_counter()
        for i, _ack in enumerate(call(requests())):
            latencies.append((time.perf_counter() - sent_at[i]) * 1e3)
        seconds = time.perf_counter() - started
    latencies.sort()
    return {"mutations": len(payloads) * BATCH, "seconds": round(seconds, 3),
            "mutations_per_second": round(len(payloads) * BATCH / seconds),
            "ack_p50_ms": round(statistics.median(latencies), 2),
            "ack_p99_ms": round(latencies[int(0.99 * (len(latencies) - 1))], 2)}


def _producer(target: str, users: int, batches: int, source: str, seed: int, pace: float,
              out: multiprocessing.Queue, events: bool = False, columnar: int = 0) -> None:  # type: ignore[type-arg]
    payloads = (serialized_event_batches if events else serialized_batches)(users, batches, source, seed, columnar)
    out.put("ready")
    out.put(stream_raw(target, payloads, pace))


def produce_in_process(target: str, users: int, batches: int, source: str, seed: int, pace: float = 0.0,
                       events: bool = False, columnar: int = 0
                       ) -> tuple[multiprocessing.Process, multiprocessing.Queue]:  # type: ignore[type-arg]
    """Start a producer process; it reports "ready" once its batches are built, then its results (batches as
    MutationColumns after --columnar, rows otherwise)."""
    spawn = multiprocessing.get_context("spawn")  # a forked child of a process that used gRPC can hang in it
    queue: multiprocessing.Queue = spawn.Queue()  # type: ignore[type-arg]
    proc = spawn.Process(target=_producer, args=(target, users, batches, source, seed, pace, queue, events,  # type: ignore[attr-defined]
                                                 columnar))
    proc.start()
    assert queue.get() == "ready"
    return proc, queue


def start_server(data: pathlib.Path, port: int, *extra: str) -> tuple[subprocess.Popen[str], float]:
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "dolphin", "serve", "--data-dir", str(data), "--port", str(port),
                             "--watch-seconds", "0", "--checkpoint-seconds", "0", "--fsync", "batch",
                             "--max-message-bytes", str(16 << 20), *extra],
                            stdout=subprocess.DEVNULL, stderr=open(data.parent / "stream-server.log", "a"), text=True)
    target = f"127.0.0.1:{port}"
    while True:
        try:
            with Client(target, timeout=1, retries=0) as client:
                client.count(QUERY)
            return proc, time.perf_counter() - started
        except Exception:  # noqa: BLE001 - still starting
            if proc.poll() is not None:
                raise RuntimeError("server exited") from None
            time.sleep(0.05)


def query_latencies(target: str, seconds: float, interval: float = 0.005, expression: str = QUERY) -> list[float]:
    """Count an expression (QUERY unless given) at a steady rate for seconds; return latencies in ms."""
    out = []
    with Client(target) as client:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            started = time.perf_counter()
            client.count(expression)
            out.append((time.perf_counter() - started) * 1e3)
            time.sleep(interval)
    return out


def funnel_latencies(target: str, seconds: float, interval: float = 0.005) -> list[float]:
    """Run the 4-stage 7-day funnel of campaign c0 at a steady rate for seconds; return latencies in ms."""
    out = []
    with Client(target) as client:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            started = time.perf_counter()
            client.funnel("c0", FUNNEL, EVENT_DAYS[0], EVENT_DAYS[-1])
            out.append((time.perf_counter() - started) * 1e3)
            time.sleep(interval)
    return out


def summary(samples: list[float]) -> dict[str, float]:
    samples = sorted(samples)
    return {"p50_ms": round(statistics.median(samples), 3), "p99_ms": round(samples[int(0.99 * (len(samples) - 1))], 3),
            "max_ms": round(samples[-1], 3), "n": len(samples)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=10_000_000)
    parser.add_argument("--work", default=str(ROOT / "bench" / "work"))
    parser.add_argument("--port", type=int, default=50093)
    parser.add_argument("--batches", type=int, default=400, help="5,000-mutation batches in the capacity phase")
    parser.add_argument("--phases", default="capacity,sink,queries,checkpoint,recovery,events,funnel")
    parser.add_argument("--event-batches", type=int, default=600, help="5,000-event batches in the events phase")
    parser.add_argument("--columnar", action="store_true", help="producers send MutationColumns instead of rows")
    parser.add_argument("--int-ids", action="store_true",
                        help="with --columnar: user IDs as packed integers (MutationColumns.int_user_ids)")
    args = parser.parse_args()
    phases = args.phases.split(",")
    mode = INT_COLUMNS if args.int_ids else TEXT_COLUMNS if args.columnar else ROWS
    work = pathlib.Path(args.work)
    source_dir = work / f"data-{args.users}"
    data = work / f"stream-data-{args.users}"
    shutil.rmtree(data, ignore_errors=True)
    shutil.copytree(source_dir, data)
    target = f"127.0.0.1:{args.port}"
    report: dict[str, object] = {"users": args.users, "batch_mutations": BATCH}
    server, startup = start_server(data, args.port)
    report["startup_seconds"] = round(startup, 2)
    try:
        if "capacity" in phases:
            proc, queue = produce_in_process(target, args.users, args.batches, "bench/capacity", 1,
                                             columnar=mode)
            report["capacity"] = queue.get()
            proc.join()
            print("capacity", report["capacity"], flush=True)
        rate = int(report.get("capacity", {}).get("mutations_per_second", 200_000))  # type: ignore[union-attr]
        if "sink" in phases:
            ids, ops, dims, values = mutations(args.users, 200 * BATCH, 2)
            with Client(target) as client, Sink(client, batch_size=BATCH, max_in_flight=8) as sink:
                started = time.perf_counter()
                for i in range(len(ids)):
                    sink.write("bench/sink", i, ids[i], int(ops[i]), dims[i], values[i])
                sink.flush()
                seconds = time.perf_counter() - started
            report["sink"] = {"mutations": len(ids), "seconds": round(seconds, 3),
                              "mutations_per_second": round(len(ids) / seconds)}
            print("sink", report["sink"], flush=True)
        if "queries" in phases:
            # The floor: a bare grpc.aio server answering Count with a prebuilt response, asked at the same pace.
            ready = multiprocessing.Event()
            bare = multiprocessing.Process(target=bare_server, args=(args.port + 1, ready), daemon=True)
            bare.start()
            ready.wait()
            floor = f"127.0.0.1:{args.port + 1}"
            idle_floor = summary(query_latencies(floor, 5))
            idle = summary(query_latencies(target, 5))
            idle_q2 = summary(query_latencies(target, 5, expression=QUERY_5))
            half = rate // 2
            batches = max(20, int(half * 28 / BATCH))
            proc, queue = produce_in_process(target, args.users, batches, "bench/paced", 3, pace=BATCH / half,
                                             columnar=mode)
            busy = summary(query_latencies(target, 10))
            busy_q2 = summary(query_latencies(target, 10, expression=QUERY_5))
            busy_floor = summary(query_latencies(floor, 5))
            paced = queue.get()
            proc.join()
            bare.terminate()
            report["queries"] = {"idle": idle, "while_ingesting": busy, "ingest": paced, "target_rate": half,
                                 "five_terms": {"expression": QUERY_5, "idle": idle_q2, "while_ingesting": busy_q2},
                                 "bare_grpc_floor": {"idle": idle_floor, "while_ingesting": busy_floor}}
            print("queries", report["queries"], flush=True)
        if "checkpoint" in phases:
            results = []
            for kind in ("first", "second"):
                proc, queue = produce_in_process(target, args.users, 40, f"bench/ckpt-{kind}", 4,
                                                 columnar=mode)
                queue.get()
                proc.join()
                lat: list[float] = []
                poller = threading.Thread(target=lambda out=lat: out.extend(query_latencies(target, 8, 0.002)))
                poller.start()
                time.sleep(2)
                with Client(target) as client:
                    started = time.perf_counter()
                    response = client.checkpoint()
                    wall = time.perf_counter() - started
                poller.join()
                results.append({"incremental": response.incremental, "changed_tags": response.changed_tags,
                                "ingest_pause_ms": round(response.pause_seconds * 1e3, 3),
                                "checkpoint_seconds": round(wall, 3), "queries_during": summary(lat)})
            report["checkpoint"] = results
            print("checkpoint", results, flush=True)
        if "events" in phases:
            proc, queue = produce_in_process(target, args.users, args.event_batches, "bench/events", 6, events=True,
                                             columnar=mode)
            report["events"] = queue.get()
            proc.join()
            with Client(target) as client:
                stages = [s.count for s in client.funnel("c0", FUNNEL, EVENT_DAYS[0], EVENT_DAYS[-1]).stages]
            report["events"]["funnel_c0_stages"] = stages  # type: ignore[index]
            print("events", report["events"], flush=True)
        if "funnel" in phases:
            event_rate = int(report.get("events", {}).get("mutations_per_second", 200_000))  # type: ignore[union-attr]
            idle = summary(funnel_latencies(target, 5))
            half = event_rate // 2
            batches = max(20, int(half * 12 / BATCH))
            proc, queue = produce_in_process(target, args.users, batches, "bench/events-paced", 7, pace=BATCH / half,
                                             events=True, columnar=mode)
            busy = summary(funnel_latencies(target, 10))
            paced = queue.get()
            proc.join()
            report["funnel"] = {"idle": idle, "while_ingesting": busy, "ingest": paced, "target_rate": half}
            print("funnel", report["funnel"], flush=True)
        if "recovery" in phases:
            with Client(target) as client:
                client.checkpoint()
            proc, queue = produce_in_process(target, args.users, 1000, "bench/recovery", 5)  # 5M mutations
            logged = queue.get()
            proc.join()
            server.send_signal(signal.SIGKILL)
            server.wait()
            server, restart = start_server(data, args.port)
            with Client(target) as client:
                replayed = client.status().ingest.recovered_batches
            report["recovery"] = {"logged_mutations": logged["mutations"], "replayed_batches": replayed,
                                  "restart_to_first_answer_seconds": round(restart, 2)}
            print("recovery", report["recovery"], flush=True)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=120)
        except subprocess.TimeoutExpired:
            server.kill()
    out = work / f"stream-report-{args.users}.json"
    out.write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
