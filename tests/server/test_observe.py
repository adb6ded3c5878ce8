"""Prometheus metrics over HTTP and JSON log lines from a real server."""

from __future__ import annotations

import json
import pathlib
import shutil
import socket
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from dolphin import errors
from dolphin.client import Client
from dolphin.v1 import ingest_service_pb2 as ing_pb
from tests.conftest import RunningServer

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_and_json_logs(loaded_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    shutil.copytree(loaded_dir, tmp_path / "data")
    port = free_port()
    server = RunningServer(tmp_path / "data", "--metrics-port", str(port), "--log-format", "json",
                           "--slow-call-ms", "1000000")
    try:
        with Client(server.target) as client:
            for _ in range(3):
                client.count("gender=F")
            with pytest.raises(errors.QuerySyntaxError):
                client.count("gender=")
            list(client.export("vip=true", page_size=100))
            client.profile("gender=F", dimensions=["city"])  # builds the per-user city codes
            list(client.mutate(iter([ing_pb.MutationBatch(source="m", offset=i, mutations=[
                ing_pb.Mutation(user_id=str(10_000_000 + 7 * i), op=ing_pb.MUTATION_OP_ADD, dimension="interest",
                                value="metrics")]) for i in range(4)])))
        time.sleep(0.2)
        samples = scrape(port)
        ok = (("grpc_code", "OK"), ("grpc_method", "Count"), ("grpc_service", "dolphin.v1.AudienceService"))
        bad = (("grpc_code", "INVALID_ARGUMENT"), ("grpc_method", "Count"),
               ("grpc_service", "dolphin.v1.AudienceService"))
        assert samples[("grpc_server_handled_total", ok)] == 3
        assert samples[("grpc_server_handled_total", bad)] == 1
        export_ok = (("grpc_code", "OK"), ("grpc_method", "Export"), ("grpc_service", "dolphin.v1.AudienceService"))
        assert samples[("grpc_server_handled_total", export_ok)] == 1
        assert samples[("dolphin_users", ())] == 3000 and samples[("dolphin_snapshot_version", ())] == 1
        assert samples[("dolphin_cache_bytes", (("cache", "value_codes"),))] >= 3000  # a code per user
        assert samples[("dolphin_cache_bytes", (("cache", "event_unions"),))] == 0
        assert samples[("dolphin_read_cache_limit_bytes", ())] == 7500  # the default: 2.5 bytes per user
        count_hist = (("grpc_method", "Count"), ("grpc_service", "dolphin.v1.AudienceService"))
        assert samples[("grpc_server_handling_seconds_count", count_hist)] == 4
        assert samples[("dolphin_ingest_batches_total", ())] == 4
        assert samples[("dolphin_ingest_mutations_total", ())] == 4
        assert 0 < samples[("dolphin_ingest_seconds_since_last_batch", ())] < 60  # ingest lag
        assert samples[("dolphin_wal_position_bytes", ())] > 0 and samples[("dolphin_ingest_storage_full", ())] == 0
    finally:
        assert server.stop() == 0
    lines = [json.loads(line) for line in server.log().splitlines() if line.strip()]
    failed = [entry for entry in lines if entry.get("code") == "INVALID_ARGUMENT"]
    assert len(failed) == 1
    assert failed[0]["rpc"] == "dolphin.v1.AudienceService/Count" and failed[0]["expression"] == "gender="
    assert failed[0]["level"] == "WARNING" and "expected a value" in failed[0]["error"]
    assert all({"time", "level", "logger", "message"} <= entry.keys() for entry in lines)
