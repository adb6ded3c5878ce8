"""Lookalike on a 3-shard cluster against one node and NumPy brute force over the planted-cluster world: the
same users when every IVF list is probed, the same recall target on the default approximate path."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import numpy as np
import pytest

from dolphin.client import Client
from dolphin.engine import Engine
from dolphin.errors import DolphinError, InvalidArgumentError, PreconditionError, UnknownDimensionError
from dolphin.lookalike import Lookalike
from tests.cluster.conftest import Front, running_front
from tests.lookalike.test_lookalike import exact_top

SHARD_LISTS = 16


@pytest.fixture(scope="module")
def lookalike_front(ray_session: None, world: dict[str, object], tmp_path_factory: pytest.TempPathFactory
                    ) -> Iterator[Front]:
    from loaders.cluster import load_embeddings_into_cluster, load_tags_into_cluster

    root = tmp_path_factory.mktemp("lookalike-cluster") / "root"
    source = pathlib.Path(str(world["root"]))
    load_tags_into_cluster([str(source / "tags.parquet")], root, shards=3, shard_bits=12)
    load_embeddings_into_cluster([str(source / "vectors.parquet")], root, index="ivf", nlist=SHARD_LISTS,
                                 shard_bits=12)
    # pools above 1,000 users per shard go through the IVF index, as they would at scale
    with running_front(root, lookalike_exact_pool=1000) as running:
        yield running


@pytest.fixture(scope="module")
def client(lookalike_front: Front) -> Iterator[Client]:
    with Client(lookalike_front.target, timeout=60, retries=0) as c:
        yield c


@pytest.fixture(scope="module")
def single(world: dict[str, object]) -> Lookalike:
    return Lookalike(Engine(world["data"]))  # type: ignore[arg-type]  # 21,000 vectors: always the exact path


@pytest.mark.parametrize("candidates", ["", "region IN (north, south)", "region=east AND NOT seed_group=yes"])
def test_centroid_over_every_list_equals_one_node(client: Client, single: Lookalike, candidates: str) -> None:
    got = client.lookalike("seed_group=yes", candidate_expression=candidates, k=300, nprobe=SHARD_LISTS)
    want = single.run("seed_group=yes", candidate_expression=candidates, k=300)
    assert (got.seed_count, got.seed_with_vectors, got.candidates_count) == (
        want.seed_count, want.seed_with_vectors, want.candidates_count)
    scores = [u.score for u in got.users]
    assert scores == pytest.approx(want.scores, abs=1e-5)
    # float sums in another order may swap users whose scores tie to 1e-5, at the cut or among themselves
    cut = want.scores[-1] + 1e-5
    assert {u.user_id for u in got.users if u.score > cut} == {
        u for u, s in zip(want.user_ids, want.scores, strict=True) if s > cut}


@pytest.mark.parametrize("method", ["centroid", "multi_centroid", "knn_vote"])
def test_every_method_finds_the_hidden_members(client: Client, world: dict[str, object], method: str) -> None:
    hidden: set[str] = world["hidden"]  # type: ignore[assignment]
    result = client.lookalike("seed_group=yes", k=2 * len(hidden), method=method)
    found = {u.user_id for u in result.users}
    assert len(hidden & found) >= 0.8 * len(hidden), (method, len(hidden & found), len(hidden))
    assert not found & world["seed"]  # type: ignore[operator]
    assert [u.score for u in result.users] == sorted((u.score for u in result.users), reverse=True)
    assert len(found) == len(result.users) == 2 * len(hidden)


def test_approximate_recall_against_brute_force(client: Client, world: dict[str, object]) -> None:
    k = 500
    result = client.lookalike("seed_group=yes", candidate_expression="region IN (north, south)", k=k)
    seed_rows = [i for i, u in enumerate(world["ids"]) if str(u) in world["seed"]]  # type: ignore[arg-type, operator]
    query = world["unit"][seed_rows].mean(axis=0)  # type: ignore[index]
    pool = {u for u, r in world["region"].items() if r in ("north", "south")} - world["seed"]  # type: ignore[attr-defined, operator]
    truth = exact_top(world, query / np.linalg.norm(query), pool, k)
    got = {u.user_id for u in result.users}
    print(f"cluster recall@{k} = {len(truth & got) / k:.3f} with nprobe {result.nprobe} of {SHARD_LISTS} per shard")
    assert result.search_path == 1 and len(truth & got) / k >= 0.95  # SEARCH_PATH_APPROXIMATE
    assert got <= pool and result.candidates_count == len(pool)


def test_save_as_saves_the_result_on_every_shard(client: Client) -> None:
    result = client.lookalike("seed_group=yes", k=250, method="multi_centroid", save_as="grown_on_cluster")
    assert client.count("@grown_on_cluster") == 250
    assert set(client.export("@grown_on_cluster")) == {u.user_id for u in result.users}
    assert client.get_audience("grown_on_cluster").count == 250


def test_bad_requests_fail_as_on_one_node(client: Client, single: Lookalike) -> None:
    for call, error in [
        (lambda look: look("ALL", k=0), InvalidArgumentError),
        (lambda look: look("region=nowhere", k=10), PreconditionError),
        (lambda look: look("regio=north", k=10), UnknownDimensionError),
        (lambda look: look("seed_group=yes", k=10, save_as="bad name!"), InvalidArgumentError),
    ]:
        with pytest.raises(error) as on_one:
            call(lambda seed, **kw: single.run(seed, **kw))
        with pytest.raises(DolphinError) as on_cluster:
            call(client.lookalike)
        assert type(on_cluster.value) is error and str(on_cluster.value) == str(on_one.value)




def test_a_shard_refuses_malformed_vector_requests(lookalike_front: Front) -> None:
    import grpc

    from dolphin.v1 import shard_service_pb2 as shard_pb
    from dolphin.v1 import shard_service_pb2_grpc as shard_grpc

    pool = shard_pb.VectorPool(seed_expression="seed_group=yes", exclude_seed=True)
    with grpc.insecure_channel(lookalike_front.cluster.engine.channels.targets()[0]) as channel:
        stub = shard_grpc.ShardServiceStub(channel)
        bad = [
            (stub.SearchVectors, shard_pb.SearchVectorsRequest(pool=pool, queries=np.zeros(8, "<f4").tobytes(),
                                                               dimension=8, k=5), "dimensions"),
            (stub.SearchVectors, shard_pb.SearchVectorsRequest(pool=pool, queries=np.zeros(7, "<f4").tobytes(),
                                                               dimension=16, k=5), "whole number"),
            (stub.SaveUsers, shard_pb.SaveUsersRequest(name="bad_ids", description="x",
                                                       dense_ids=np.array([2**31], "<u4").tobytes()), "not a user"),
        ]
        for call, request, message in bad:
            with pytest.raises(grpc.RpcError) as caught:
                call(request, timeout=30)
            assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT and message in caught.value.details()
    with Client(lookalike_front.target, timeout=30, retries=0) as client:
        with pytest.raises(DolphinError, match="not found"):
            client.count("@bad_ids")  # nothing was saved
