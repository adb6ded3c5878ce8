"""Lookalike on planted clusters: quality per method, approximate recall vs NumPy brute force, filters, saving,
restarts and bad inputs."""

from __future__ import annotations

import pathlib

import numpy as np
import polars as pl
import pytest

from dolphin import errors
from dolphin.engine import Engine
from dolphin.lookalike import Lookalike, Method
from loaders.embeddings import load_embeddings
from loaders.tags import load_tags
from tests.worlds import N


@pytest.fixture(scope="module")
def engine(world: dict[str, object]) -> Engine:
    return Engine(world["data"])  # type: ignore[arg-type]


def test_users_with_vectors_but_no_tags_are_known(engine: Engine) -> None:
    assert engine.count("ALL").count == N + 1000
    assert engine.count("NOT region IN (north, south, east, west, centre)").count == 1000


@pytest.mark.parametrize("method", list(Method))
def test_hidden_part_of_a_planted_cluster_is_found(engine: Engine, world: dict[str, object], method: Method) -> None:
    hidden = world["hidden"]
    k = 2 * len(hidden)  # type: ignore[arg-type]
    result = Lookalike(engine, exact_pool_max=1000).run("seed_group=yes", k=k, method=method)
    found = len(hidden & set(result.user_ids))  # type: ignore[operator]
    chance = k / (N + 1000) * len(hidden)  # type: ignore[arg-type]
    assert found >= 0.8 * len(hidden), (method, found, len(hidden))  # type: ignore[arg-type]
    assert found > 20 * chance
    assert result.search_path == "approximate"
    assert not set(result.user_ids) & world["seed"]  # type: ignore[operator]
    assert result.scores == sorted(result.scores, reverse=True)


def exact_top(world: dict[str, object], query: np.ndarray, pool: set[str], k: int) -> set[str]:
    ids = np.array([str(i) for i in world["ids"]])  # type: ignore[attr-defined]
    mask = np.isin(ids, list(pool))
    scores = world["unit"][mask] @ query  # type: ignore[index]
    return set(ids[mask][np.argsort(-scores)[:k]])


def test_approximate_recall_against_brute_force(engine: Engine, world: dict[str, object]) -> None:
    """Recall@k of the default IVF path with a 40% candidate pool, against exact NumPy search."""
    lookalike = Lookalike(engine, exact_pool_max=1000)
    k = 500
    result = lookalike.run("seed_group=yes", candidate_expression="region IN (north, south)", k=k)
    seed_rows = [i for i, u in enumerate(world["ids"]) if str(u) in world["seed"]]  # type: ignore[arg-type, operator]
    query = world["unit"][seed_rows].mean(axis=0)  # type: ignore[index]
    query = query / np.linalg.norm(query)
    pool = {u for u, r in world["region"].items() if r in ("north", "south")} - world["seed"]  # type: ignore[attr-defined, operator]
    truth = exact_top(world, query, pool, k)
    recall = len(truth & set(result.user_ids)) / k
    print(f"recall@{k} = {recall:.3f} with nprobe {result.nprobe} of 64 lists")
    assert result.search_path == "approximate" and recall >= 0.95
    assert set(result.user_ids) <= pool  # nothing outside the pool, nothing from the seed
    assert result.candidates_count == len(pool)


def test_exact_path_for_small_pools_matches_brute_force(engine: Engine, world: dict[str, object]) -> None:
    result = Lookalike(engine).run("seed_group=yes", candidate_expression="region=east", k=300)
    assert result.search_path == "exact"
    seed_rows = [i for i, u in enumerate(world["ids"]) if str(u) in world["seed"]]  # type: ignore[arg-type, operator]
    query = world["unit"][seed_rows].mean(axis=0)  # type: ignore[index]
    pool = {u for u, r in world["region"].items() if r == "east"} - world["seed"]  # type: ignore[attr-defined, operator]
    assert set(result.user_ids) == exact_top(world, query / np.linalg.norm(query), pool, 300)


def test_save_as_and_restart(engine: Engine, world: dict[str, object]) -> None:
    result = Lookalike(engine, exact_pool_max=1000).run("seed_group=yes", k=250, save_as="grown",
                                                        method=Method.MULTI_CENTROID)
    assert engine.count("@grown").count == 250
    assert set(u for p in engine.export_pages("@grown") for u in p.user_ids) == set(result.user_ids)
    again = Lookalike(Engine(world["data"]), exact_pool_max=1000).run(  # type: ignore[arg-type]
        "seed_group=yes", k=250, method=Method.MULTI_CENTROID)
    assert again.user_ids == result.user_ids


def test_include_seed(engine: Engine, world: dict[str, object]) -> None:
    result = Lookalike(engine).run("seed_group=yes", k=50, exclude_seed=False)
    assert set(result.user_ids) & world["seed"]  # type: ignore[operator]


def test_bad_requests(engine: Engine, world: dict[str, object], tmp_path: pathlib.Path) -> None:
    lookalike = Lookalike(engine, max_k=10_000)
    with pytest.raises(errors.InvalidArgumentError, match="k must be between 1 and 10000"):
        lookalike.run("ALL", k=0)
    with pytest.raises(errors.InvalidArgumentError, match="--max-lookalike-k"):
        lookalike.run("ALL", k=10_001)
    with pytest.raises(errors.PreconditionError, match="none of them has a vector"):
        lookalike.run("region=nowhere", k=10)
    pl.DataFrame({"user_id": [1], "a": ["x"]}).write_parquet(tmp_path / "t.parquet")
    load_tags([str(tmp_path / "t.parquet")], tmp_path / "d")
    with pytest.raises(errors.PreconditionError, match="no embeddings are loaded"):
        Lookalike(Engine(tmp_path / "d")).run("ALL", k=1)


def test_tag_loads_keep_the_embeddings(world: dict[str, object], tmp_path: pathlib.Path) -> None:
    import shutil

    shutil.copytree(world["data"], tmp_path / "data")  # type: ignore[arg-type]
    pl.DataFrame({"user_id": [5, 16], "tier": ["a", "b"]}).write_parquet(tmp_path / "tier.parquet")
    load_tags([str(tmp_path / "tier.parquet")], tmp_path / "data", shard_bits=12)
    result = Lookalike(Engine(tmp_path / "data")).run("tier=a", k=5)
    assert len(result.user_ids) == 5 and result.seed_with_vectors == 1


@pytest.mark.parametrize(("frame", "message"), [
    (pl.DataFrame({"user_id": [1, 2], "embedding": [[1.0, 2.0], [1.0]]}), "row 2: vector has 1 values; row 1 has 2"),
    (pl.DataFrame({"user_id": [1, 2], "embedding": [[1.0, 2.0], [float("nan"), 1.0]]}), "row 2: vector has NaN"),
    (pl.DataFrame({"user_id": [1, 2], "embedding": [[1.0, 2.0], [0.0, 0.0]]}), "row 2: a zero vector"),
    (pl.DataFrame({"user_id": [1, 1], "embedding": [[1.0, 2.0], [1.0, 3.0]]}), "user 1 has more than one vector"),
    (pl.DataFrame({"user_id": [1], "vec": [[1.0]]}), 'no column "embedding"'),
])
def test_bad_embedding_files(tmp_path: pathlib.Path, frame: pl.DataFrame, message: str) -> None:
    frame.write_parquet(tmp_path / "v.parquet")
    with pytest.raises(errors.LoadError, match=message):
        load_embeddings([str(tmp_path / "v.parquet")], tmp_path / "d")
    assert not (tmp_path / "d" / "versions").exists() or not any((tmp_path / "d" / "versions").iterdir())
