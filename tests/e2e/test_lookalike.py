"""LookalikeService through the real server: client, grpcurl, status codes."""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess

import pytest

from dolphin import errors
from dolphin.client import Client
from tests.conftest import RunningServer
from tests.e2e.test_grpcurl import GRPCURL

pytestmark = pytest.mark.e2e


def test_lookalike_over_grpc(world: dict[str, object], tmp_path: pathlib.Path) -> None:
    shutil.copytree(world["data"], tmp_path / "data")  # type: ignore[arg-type]
    server = RunningServer(tmp_path / "data")
    try:
        with Client(server.target) as client:
            response = client.lookalike("seed_group=yes", candidate_expression="region IN (north, south)", k=100,
                                        method="knn_vote", save_as="grown")
            assert len(response.users) == 100 and response.seed_with_vectors == len(world["seed"])  # type: ignore[arg-type]
            assert response.method == 3 and response.index_type == "ivf"
            assert client.count("@grown AND region IN (north, south)") == 100
            with pytest.raises(errors.PreconditionError, match="none of them has a vector"):
                client.lookalike("region=nowhere", k=5)
            with pytest.raises(errors.InvalidArgumentError, match="k must be between"):
                client.lookalike("ALL", k=0)
        result = subprocess.run(
            [str(GRPCURL), "-plaintext", "-d", '{"seed_expression": "seed_group=yes", "k": 3}', server.target,
             "dolphin.v1.LookalikeService/Lookalike"], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        body = json.loads(result.stdout)
        assert len(body["users"]) == 3 and body["method"] == "LOOKALIKE_METHOD_CENTROID"
        bad = subprocess.run(
            [str(GRPCURL), "-plaintext", "-d", '{"seed_expression": "seed_group=yes", "k": 3, "method": 9}',
             server.target, "dolphin.v1.LookalikeService/Lookalike"], capture_output=True, text=True, timeout=60)
        assert bad.returncode == 64 + 3 and "unknown lookalike method 9" in bad.stderr
    finally:
        assert server.stop() == 0


def test_no_embeddings_is_failed_precondition(client: Client) -> None:
    with pytest.raises(errors.PreconditionError, match="no embeddings are loaded"):
        client.lookalike("gender=F", k=10)
