"""Stream ingest against real servers: Mutate and GetOffsets over gRPC and grpcurl, bad batches, flow control,
checkpoints, a corrupt log, a full disk, queries during ingest, and `dolphin stream`."""

from __future__ import annotations

import json
import pathlib
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import grpc
import polars as pl
import pytest

from dolphin.client import Client
from dolphin.errors import InvalidArgumentError, QueryLimitError, StorageFullError
from dolphin.sink import Sink
from dolphin.v1 import ingest_service_pb2 as pb
from tests.conftest import Oracle, RunningServer, with_file_size_limit
from tests.e2e.test_grpcurl import GRPCURL

pytestmark = pytest.mark.e2e
ADD, REMOVE, SET, DELETE = pb.MUTATION_OP_ADD, pb.MUTATION_OP_REMOVE, pb.MUTATION_OP_SET, pb.MUTATION_OP_DELETE_USER


@pytest.fixture
def stream_server(data_copy: pathlib.Path) -> Iterator[RunningServer]:
    running = RunningServer(data_copy, "--checkpoint-seconds", "0")
    yield running
    running.stop()


def batch(source: str, offset: int, *mutations: tuple[str, int, str, str]) -> pb.MutationBatch:
    return pb.MutationBatch(source=source, offset=offset, mutations=[
        pb.Mutation(user_id=u, op=op, dimension=d, value=v) for u, op, d, v in mutations])  # type: ignore[arg-type]


def test_mutate_is_visible_durable_and_exactly_once(stream_server: RunningServer, oracle: Oracle) -> None:
    users = sorted(oracle.population)[:3]
    with Client(stream_server.target) as client:
        base_tennis = client.count("interest=tennis")
        acks = list(client.mutate(iter([
            batch("kafka:tags/0", 10, (users[0], SET, "city", "Atlantis"), (users[1], ADD, "interest", "tennis"),
                  ("424242", SET, "city", "Atlantis")),
            batch("kafka:tags/0", 10, (users[2], SET, "city", "Atlantis")),  # a replay: skipped
            batch("kafka:tags/0", 11, (users[1], DELETE, "", "")),
        ])))
        assert [(a.offset, a.applied, a.skipped) for a in acks] == [(10, 3, False), (10, 0, True), (11, 1, False)]
        assert client.count("city=Atlantis") == 2  # read-your-writes after the ack
        tennis = oracle.tag("interest", "tennis")
        assert client.count("interest=tennis") == base_tennis - (users[1] in tennis)
        assert client.count("ALL") == len(oracle.population)  # one new user, one deleted
        assert client.get_offsets() == {"kafka:tags/0": 11}
        assert client.get_offsets(["kafka:tags/0", "other"]) == {"kafka:tags/0": 11, "other": -1}
        status = client.status()
        assert status.ingest.fsync == "always" and status.ingest.sequence == 2 and status.ingest.sources == 1
        checkpoint = client.checkpoint()
        assert checkpoint.snapshot_version == status.snapshot_version + 1 and checkpoint.changed_tags >= 3
    assert stream_server.stop() == 0
    again = RunningServer(stream_server.data_dir, "--checkpoint-seconds", "0")
    try:
        with Client(again.target) as client:
            assert client.count("city=Atlantis") == 2 and client.get_offsets() == {"kafka:tags/0": 11}
            assert client.status().ingest.recovered_batches == 0
    finally:
        again.stop()


def test_stream_values_are_nfc_normalised_like_loads_and_queries(stream_server: RunningServer,
                                                                  oracle: Oracle) -> None:
    user = sorted(oracle.population)[0]
    with Client(stream_server.target) as client:
        acks = list(client.mutate(iter([batch("nfc", 1, (user, ADD, "mm", "e\u0301"), (user, ADD, "caf\u0065\u0301",
                                                                                        "x"))])))
        assert [a.applied for a in acks] == [2]
        assert client.count('mm="\u00e9"') == client.count('mm="e\u0301"') == 1
        assert client.count('"caf\u00e9"=x') == 1
        listed = {d.name: [v.value for v in d.values] for d in client.list_dimensions(max_values=10)}
        assert listed["mm"] == ["\u00e9"] and "caf\u00e9" in listed and "cafe\u0301" not in listed
        client.checkpoint()
    assert stream_server.stop() == 0
    again = RunningServer(stream_server.data_dir, "--checkpoint-seconds", "0")
    try:
        with Client(again.target) as client:
            assert client.count('mm="e\u0301"') == 1
    finally:
        again.stop()


BAD = [
    (batch("s", 1, ("1", 99, "city", "x")), "mutation 0: op 99 is not a known operation"),
    (batch("s", 1, ("1", 0, "city", "x")), "mutation 0: op is MUTATION_OP_UNSPECIFIED"),
    (batch("", 1, ("1", SET, "city", "x")), "source is empty"),
    (batch("s", 1, ("1", SET, "city", "x"), ("", SET, "city", "x")), "batch s@1: mutation 1: user_id is empty"),
    (batch("s", 1, ("1", SET, "", "x")), "mutation 0: dimension is empty"),
    (batch("s", 1, ("1", SET, "city", "v" * 5000)), "mutation 0: value is over 1024 characters"),
    (batch("s", 1, ("1", SET, "interest", "x")), 'set on multi-valued dimension "interest"'),
    (batch("s", 1, ("1", ADD, "city", "x")), 'add on single-valued dimension "city"'),
    (batch("s", 1, ("abc", SET, "city", "x")), 'user_id "abc" is not an integer'),
    (batch("s", -5, ("1", SET, "city", "x")), "offset -5 is negative"),
]


@pytest.mark.parametrize(("bad", "message"), BAD, ids=[m for _, m in BAD])
def test_bad_batches_are_invalid_argument_and_apply_nothing(stream_server: RunningServer, bad: pb.MutationBatch,
                                                             message: str) -> None:
    with Client(stream_server.target) as client:
        before = client.count("city=x")
        good = batch("s", 0, ("77", ADD, "interest", "fresh"))
        acks = []
        with pytest.raises(InvalidArgumentError, match=message):
            for ack in client.mutate(iter([good, bad])):
                acks.append(ack)
        assert [a.offset for a in acks] == [0]  # the batch before the bad one was applied and acked
        assert client.count("city=x") == before and client.get_offsets() == {"s": 0}


def test_oversize_batches_are_resource_exhausted(data_copy: pathlib.Path) -> None:
    server = RunningServer(data_copy, "--max-batch-mutations", "10", "--max-message-bytes", "65536")
    try:
        with Client(server.target) as client:
            with pytest.raises(QueryLimitError, match="batch mutation count is 11; the limit is 10"):
                list(client.mutate(iter([batch("s", 1, *[("1", ADD, "interest", "x")] * 11)])))
            with pytest.raises(QueryLimitError):  # gRPC's own limit on the message size
                list(client.mutate(iter([batch("s", 1, ("1", ADD, "interest", "x" * 100_000))])))
            assert client.get_offsets() == {}
    finally:
        server.stop()


def test_grpcurl_describe_and_mutate(stream_server: RunningServer) -> None:
    described = subprocess.run([str(GRPCURL), "-plaintext", stream_server.target, "describe",
                                "dolphin.v1.MutationBatch"], capture_output=True, text=True, timeout=30)
    assert "The last source offset in the batch" in described.stdout
    messages = "\n".join(json.dumps({"source": "grpcurl", "offset": str(i), "mutations": [
        {"user_id": "5", "op": "MUTATION_OP_SET", "dimension": "city", "value": f"grpcurl{i}"}]}) for i in range(3))
    result = subprocess.run([str(GRPCURL), "-plaintext", "-d", "@", stream_server.target,
                             "dolphin.v1.IngestService/Mutate"], input=messages, capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0, result.stderr
    acks = [json.loads(part) for part in result.stdout.replace("}\n{", "}\x00{").split("\x00")]
    assert [a.get("offset", "0") for a in acks] == ["0", "1", "2"]  # JSON leaves out zero values
    bad = subprocess.run([str(GRPCURL), "-plaintext", "-d", '{"source": "g", "mutations": [{"user_id": "1"}]}',
                          stream_server.target, "dolphin.v1.IngestService/Mutate"], capture_output=True, text=True,
                         timeout=30)
    assert bad.returncode == 64 + 3 and "MUTATION_OP_UNSPECIFIED" in bad.stderr
    health = subprocess.run([str(GRPCURL), "-plaintext", "-d", '{"service": "dolphin.v1.IngestService"}',
                             stream_server.target, "grpc.health.v1.Health/Check"], capture_output=True, text=True,
                            timeout=30)
    assert '"SERVING"' in health.stdout


def _rss(proc: subprocess.Popen[str]) -> int:
    return int(pathlib.Path(f"/proc/{proc.pid}/statm").read_text().split()[1]) * resource.getpagesize()


def test_a_producer_that_never_reads_acks_does_not_make_the_server_buffer(data_copy: pathlib.Path) -> None:
    server = RunningServer(data_copy, "--max-pending-bytes", "200000")
    pulled = 0

    def endless() -> Iterator[pb.MutationBatch]:
        nonlocal pulled
        for i in range(10_000_000):
            pulled += 1
            yield batch("flood", i, *[(str(j), ADD, "interest", "flood") for j in range(20)])

    try:
        baseline = _rss(server.proc)
        with grpc.insecure_channel(server.target) as channel:
            call = channel.stream_stream("/dolphin.v1.IngestService/Mutate",
                                         request_serializer=pb.MutationBatch.SerializeToString,
                                         response_deserializer=pb.MutationAck.FromString)(endless())
            time.sleep(3)  # never read a single ack
            with Client(server.target) as client:
                applied = client.get_offsets()["flood"]
            sent = pulled
            growth = _rss(server.proc) - baseline
            call.cancel()
        # unapplied batches are bounded by --max-pending-bytes plus gRPC's HTTP/2 windows (a few MB), not by
        # how much the producer has: it is stuck, and the server did not queue its batches in memory
        size = batch("flood", 1, *[("1", ADD, "interest", "flood")] * 20).ByteSize()
        assert (sent - applied) * size < 200_000 + 16 * 1024 * 1024, (sent, applied)
        assert growth < 100 * 1024 * 1024, growth
        assert sent < 10_000_000
    finally:
        server.stop()


def test_a_slow_server_blocks_the_sink_and_bounds_memory(data_copy: pathlib.Path) -> None:
    pending = 4 * 1024 * 1024
    server = RunningServer(data_copy, "--max-pending-bytes", str(pending), env={
        "DOLPHIN_FAILPOINTS": "wal.after_write_before_fsync=sleep:0.2"})  # a disk that takes 0.2 s per fsync
    try:
        baseline = _rss(server.proc)
        peak = baseline
        with Client(server.target) as client, Sink(client, batch_size=2000, max_in_flight=4) as sink:
            started = time.monotonic()
            written = 0
            while time.monotonic() - started < 4:
                sink.write("slow", written, str(written % 5000), ADD, "interest", "slow" + "x" * 100)
                written += 1
                if written % 2000 == 0:
                    peak = max(peak, _rss(server.proc))
            acked = client.get_offsets().get("slow", -1)
            # 4 in flight plus one open batch: write() blocked instead of queueing everything
            assert written - acked <= 5 * 2000, (written, acked)
            assert written < 200_000  # far fewer than an unthrottled producer writes in 4 s
        assert peak - baseline < pending + 100 * 1024 * 1024, (peak - baseline)
    finally:
        server.stop()


def test_corrupt_log_refuses_to_start_unless_told(stream_server: RunningServer) -> None:
    with Client(stream_server.target) as client:
        list(client.mutate(iter([batch("s", i, ("9", ADD, "interest", f"v{i}")) for i in range(5)])))
    stream_server.proc.send_signal(signal.SIGKILL)
    stream_server.proc.wait()
    segment = sorted((stream_server.data_dir / "wal").glob("*.wal"))[-1]
    raw = bytearray(segment.read_bytes())
    raw[60] ^= 0x55
    segment.write_bytes(bytes(raw))
    result = subprocess.run([sys.executable, "-m", "dolphin", "serve", "--data-dir", str(stream_server.data_dir),
                             "--port", "0"], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert f"{segment}: corrupt WAL record at byte 24" in result.stderr and "truncate-at-corruption" in result.stderr
    fixed = RunningServer(stream_server.data_dir, "--wal-recovery", "truncate-at-corruption")
    try:
        with Client(fixed.target) as client:
            assert client.get_offsets() == {}  # everything from the damaged record on was dropped, loudly
            assert any("WAL cut at corruption" in n for n in client.status().ingest.recovery_notes)
    finally:
        fixed.stop()


def test_full_disk_refuses_batches_and_ingest_resumes_without_restart(data_copy: pathlib.Path) -> None:
    limit = 64 * 1024  # RLIMIT_FSIZE: no file may grow past this (EFBIG, what a full volume looks like to a writer)
    server = RunningServer(data_copy, "--checkpoint-seconds", "0")
    try:
        with Client(server.target) as client:
            resource.prlimit(server.proc.pid, resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
            acked, refused = 0, None
            for i in range(200):
                try:
                    list(client.mutate(iter([batch("s", i, *[(str(j), ADD, "interest", f"x{i}") for j in
                                                             range(100)])])))
                    acked = i
                except StorageFullError as exc:  # RESOURCE_EXHAUSTED, named by the server
                    refused = (i, str(exc))
                    break
            assert refused is not None and "data dir is full" in refused[1], refused
            assert client.get_offsets() == {"s": acked}  # the refused batch was not applied
            assert client.count("interest=tennis") > 0  # queries keep working
            health = subprocess.run([str(GRPCURL), "-plaintext", "-d", '{"service": "dolphin.v1.IngestService"}',
                                     server.target, "grpc.health.v1.Health/Check"], capture_output=True, text=True)
            assert "NOT_SERVING" in health.stdout
            resource.prlimit(server.proc.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
            list(client.mutate(iter([batch("s", refused[0], ("1", ADD, "interest", "after"))])))
            assert client.get_offsets() == {"s": refused[0]} and client.count("interest=after") == 1
    finally:
        server.stop()
    again = RunningServer(data_copy)
    try:
        with Client(again.target) as client:
            assert client.get_offsets() == {"s": refused[0]}  # no half record in the log
    finally:
        again.stop()


def test_checkpoint_and_load_on_a_full_disk_say_so_and_change_nothing(data_copy: pathlib.Path,
                                                                      tmp_path: pathlib.Path) -> None:
    from dolphin.storage import layout

    limit = 512  # RLIMIT_FSIZE: the manifest of a new version cannot be written (EFBIG)
    server = RunningServer(data_copy, "--checkpoint-seconds", "0")
    try:
        with Client(server.target) as client:
            list(client.mutate(iter([batch("s", 1, ("1", ADD, "interest", "full-disk"))])))
            versions = layout.list_versions(data_copy)
            resource.prlimit(server.proc.pid, resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
            with pytest.raises(StorageFullError, match=r"data dir is full \(File too large writing a snapshot "
                                                       r"version\); nothing was changed"):
                client.checkpoint()
            assert layout.list_versions(data_copy) == versions
            assert not list(layout.versions_dir(data_copy).glob(".tmp-*"))
            assert client.count("interest=full-disk") == 1
            done = subprocess.run(
                [sys.executable, "-m", "dolphin", "checkpoint", "--target", server.target],
                capture_output=True, text=True, timeout=60)
            assert done.returncode == 1 and done.stderr.startswith("error: data dir is full"), done.stderr
            resource.prlimit(server.proc.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
            assert client.checkpoint().snapshot_version == versions[-1] + 1
    finally:
        assert server.stop() == 0
    pl.DataFrame({"user_id": list(range(5000)), "region": ["north", "south"] * 2500}).write_parquet(
        tmp_path / "regions.parquet")
    versions = layout.list_versions(data_copy)
    load = subprocess.run(
        with_file_size_limit([sys.executable, "-m", "dolphin", "load", "tags", str(tmp_path / "regions.parquet"),
                              "--data-dir", str(data_copy)], limit), capture_output=True, text=True, timeout=120)
    assert load.returncode == 1, load.stderr
    errors = [line for line in load.stderr.splitlines() if not line.startswith("load: ")]
    assert errors == ["error: data dir is full (File too large writing a snapshot version); nothing was changed "
                      "and the current version stays as it was; free space or raise the volume size"], load.stderr
    assert layout.list_versions(data_copy) == versions and not list(layout.versions_dir(data_copy).glob(".tmp-*"))
    again = RunningServer(data_copy)
    try:
        with Client(again.target) as client:
            assert client.count("interest=full-disk") == 1 and client.get_offsets() == {"s": 1}
    finally:
        again.stop()


def test_queries_stay_correct_while_streaming_and_checkpointing(stream_server: RunningServer, oracle: Oracle) -> None:
    users = sorted(oracle.population)
    errors: list[BaseException] = []
    stop = threading.Event()

    def query() -> None:
        with Client(stream_server.target) as client:
            while not stop.is_set():
                try:
                    assert client.count("gender=F") == len(oracle.tag("gender", "F"))  # untouched by the stream
                    assert 0 <= client.count("interest=live") <= len(users)
                except BaseException as exc:  # noqa: BLE001 - reported below
                    errors.append(exc)
                    return

    threads = [threading.Thread(target=query) for _ in range(3)]
    for t in threads:
        t.start()
    with Client(stream_server.target) as client, Sink(client, batch_size=200) as sink:
        for i, user in enumerate(users):
            sink.write("live", i, user, ADD, "interest", "live")
            if i == len(users) // 2:
                client.checkpoint()
        sink.flush()
        assert client.count("interest=live") == len(users)
    stop.set()
    for t in threads:
        t.join()
    assert not errors, errors[0]


def test_dolphin_stream_replays_a_change_log(stream_server: RunningServer, tmp_path: pathlib.Path) -> None:
    rows = [{"user_id": str(1000 + i % 50), "op": "add" if i % 3 else "remove", "dimension": "interest",
             "value": f"cl{i % 7}"} for i in range(3000)]
    (tmp_path / "changes.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    other = [{**r, "value": "pq" + r["value"]} for r in rows[:1000]]  # another source, other keys: no race
    pl.DataFrame(other).with_columns(source=pl.lit("pq")).write_parquet(tmp_path / "changes.parquet")
    cmd = [sys.executable, "-m", "dolphin", "stream", str(tmp_path / "changes.jsonl"),
           str(tmp_path / "changes.parquet"), "--target", stream_server.target, "--batch-size", "256"]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "streamed 4000 of 4000 mutations from 2 sources" in first.stdout
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert "streamed 0 of 4000 mutations from 2 sources (4000 already applied)" in second.stdout
    truth: dict[str, set[str]] = {}  # the last op per (user, value), in file order
    for r in rows + other:
        (truth.setdefault(r["value"], set()).add if r["op"] == "add" else
         truth.setdefault(r["value"], set()).discard)(r["user_id"])
    with Client(stream_server.target) as client:
        for value, users in truth.items():
            assert client.count(f"interest={value}") == len(users)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"user_id": "1", "op": "upsert"}))
    failed = subprocess.run([*cmd[:4], str(bad), *cmd[6:]], capture_output=True, text=True, timeout=60)
    assert failed.returncode == 1 and "op must be one of add, remove, set, delete_user" in failed.stderr


def test_sigterm_during_ingest_drains_checkpoints_and_keeps_every_ack(stream_server: RunningServer) -> None:
    acked: list[int] = []
    with grpc.insecure_channel(stream_server.target) as channel:
        call = channel.stream_stream("/dolphin.v1.IngestService/Mutate",
                                     request_serializer=pb.MutationBatch.SerializeToString,
                                     response_deserializer=pb.MutationAck.FromString)

        def batches() -> Iterator[pb.MutationBatch]:
            for i in range(100_000):
                yield batch("term", i, *[(str(j), ADD, "interest", f"term{i % 5}") for j in range(50)])
                time.sleep(0.001)

        def read() -> None:
            try:
                for ack in call(batches()):
                    acked.append(ack.offset)
            except grpc.RpcError:
                pass  # the server went away: what was acked is what counts

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        time.sleep(1.5)
        assert stream_server.stop() == 0  # SIGTERM: NOT_SERVING, drain, checkpoint, exit 0
        reader.join(timeout=30)
    assert acked and acked == list(range(len(acked)))
    again = RunningServer(stream_server.data_dir)
    try:
        with Client(again.target) as client:
            assert client.get_offsets()["term"] >= acked[-1]  # every acked batch survived
            assert client.status().ingest.recovered_batches == 0  # the shutdown checkpoint held everything
    finally:
        again.stop()


def test_health_stays_responsive_under_profiles_exports_and_ingest(stream_server: RunningServer,
                                                                   oracle: Oracle) -> None:
    """R9: health is answered quickly while expensive queries and a stream share the server."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    stop = threading.Event()
    failures: list[BaseException] = []

    def busy(work: str) -> None:
        with Client(stream_server.target) as client:
            i = 0
            while not stop.is_set():
                try:
                    if work == "profile":
                        client.profile("ALL", dimensions=["city"], top_k=300)
                    elif work == "export":
                        list(client.export("ALL", page_size=1000))
                    else:
                        list(client.mutate(iter([batch("r9", i, *[(str(10_000_000 + 7 * j), ADD, "interest", "r9")
                                                                   for j in range(500)])])))
                        i += 1
                except BaseException as exc:  # noqa: BLE001 - reported below
                    failures.append(exc)
                    return

    workers = [threading.Thread(target=busy, args=(w,)) for w in ("profile", "profile", "export", "ingest")]
    for w in workers:
        w.start()
    latencies = []
    with grpc.insecure_channel(stream_server.target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        end = time.monotonic() + 8
        while time.monotonic() < end:
            started = time.perf_counter()
            response = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
            latencies.append(time.perf_counter() - started)
            assert response.status == health_pb2.HealthCheckResponse.SERVING
            time.sleep(0.05)
    stop.set()
    for w in workers:
        w.join()
    assert not failures, failures[0]
    latencies.sort()
    assert latencies[int(0.99 * (len(latencies) - 1))] < 0.1, latencies[-5:]
