"""Cluster loads as Ray tasks (`--ray-address`): every shard loads at once on the Ray cluster and ends exactly as
the same load run shard after shard; a shard that fails takes the others' new versions back."""

from __future__ import annotations

import pathlib

import polars as pl
import pytest

from dolphin.cluster.loads import on_ray
from dolphin.engine import Engine
from dolphin.errors import LoadError
from dolphin.storage.cluster_file import read_cluster
from dolphin.storage.partition import shard_of
from loaders.cluster import ShardRunner, load_tags_into_cluster
from tests.cluster.conftest import ray

EXPRESSIONS = ["ALL", "gender=F AND interest=tennis", "NOT vip=true", "city IN (Hangzhou, Shanghai)"]


def session_runner(progress: list[tuple[int, int]] | None = None) -> ShardRunner:
    # the session's own Ray, by address, as `--ray-address` names one
    return ShardRunner(run_all=on_ray(ray.get_runtime_context().gcs_address, cpus=0.25),
                       progress=(lambda done, total, _msg: progress.append((done, total))) if progress is not None
                       else None)


def shard_engines(root: pathlib.Path) -> list[Engine]:
    return [Engine(d) for d in read_cluster(root).shard_dirs(root)]


def test_ray_tasks_load_what_a_load_shard_after_shard_loads(ray_session: None, tmp_path: pathlib.Path,
                                                             frame: pl.DataFrame) -> None:
    frame.write_parquet(tmp_path / "users.parquet")
    load_tags_into_cluster([str(tmp_path / "users.parquet")], tmp_path / "here", shards=3, shard_bits=9)
    progress: list[tuple[int, int]] = []
    reports = load_tags_into_cluster([str(tmp_path / "users.parquet")], tmp_path / "ray", shards=3, shard_bits=9,
                                     runner=session_runner(progress))
    assert [r.version for r in reports] == [1, 1, 1]
    assert sorted(progress) == [(1, 3), (2, 3), (3, 3)]
    for here, there in zip(shard_engines(tmp_path / "here"), shard_engines(tmp_path / "ray"), strict=True):
        assert [here.count(e).count for e in EXPRESSIONS] == [there.count(e).count for e in EXPRESSIONS]
    assert sum(e.count("ALL").count for e in shard_engines(tmp_path / "ray")) == len(frame)


def test_a_shard_that_fails_on_ray_takes_the_others_back(ray_session: None, tmp_path: pathlib.Path) -> None:
    users = [f"u{i}" for i in range(60)]
    pl.DataFrame({"user_id": users, "city": ["a"] * 60}).write_parquet(tmp_path / "first.parquet")
    load_tags_into_cluster([str(tmp_path / "first.parquet")], tmp_path / "root", shards=3, shard_bits=6, keep=1)
    last = users[shard_of(pl.Series(users), "string", 3).tolist().index(2)]
    pl.DataFrame({"user_id": [*users, last], "city": ["b"] * 60 + ["c"]}).write_parquet(tmp_path / "bad.parquet")
    with pytest.raises(LoadError, match="several values of single-valued column 'city'"):
        load_tags_into_cluster([str(tmp_path / "bad.parquet")], tmp_path / "root", shard_bits=6, keep=1,
                               runner=session_runner())
    engines = shard_engines(tmp_path / "root")
    assert [e.status().snapshot_version for e in engines] == [1, 1, 1]
    assert sum(e.count("city=b").count for e in engines) == 0
