"""Cluster loads: every user lands on its hash's shard, the shards together hold what one node holds, and the
shard count is fixed when the root is created."""

from __future__ import annotations

import json
import pathlib

import polars as pl
import pytest
from hypothesis import given, settings

from dolphin.engine import Engine
from dolphin.errors import LoadError, SnapshotError
from dolphin.query import Expr, format_expr
from dolphin.storage.cluster_file import CLUSTER_FILE, read_cluster
from dolphin.storage.partition import shard_of
from loaders.cluster import load_events_into_cluster, load_tags_into_cluster
from loaders.events import load_events
from loaders.tags import load_tags
from tests.conftest import Oracle
from tests.strategies import brute_force, expressions

SHARDS = 3


@pytest.fixture(scope="module")
def cluster_root(tmp_path_factory: pytest.TempPathFactory, frame: pl.DataFrame) -> pathlib.Path:
    root = tmp_path_factory.mktemp("cluster")
    frame.write_parquet(root / "users.parquet")
    load_tags_into_cluster([str(root / "users.parquet")], root / "data", shards=SHARDS, shard_bits=9)
    return root / "data"


@pytest.fixture(scope="module")
def shard_engines(cluster_root: pathlib.Path) -> list[Engine]:
    return [Engine(d) for d in read_cluster(cluster_root).shard_dirs(cluster_root)]


def test_every_user_is_on_its_hash_s_shard(cluster_root: pathlib.Path, shard_engines: list[Engine],
                                           frame: pl.DataFrame) -> None:
    layout = read_cluster(cluster_root)
    assert (layout.shards, layout.id_type) == (SHARDS, "string" if frame["user_id"].dtype == pl.String else "int64")
    want = frame.select("user_id").with_columns(
        pl.Series("shard", shard_of(frame["user_id"], layout.id_type, SHARDS)))
    for shard, engine in enumerate(shard_engines):
        users = {u for page in engine.export_pages("ALL", page_size=10_000) for u in page.user_ids}
        assert users == {str(u) for u in want.filter(pl.col("shard") == shard)["user_id"].to_list()}
        assert users  # 3,000 users over 3 shards: none is empty


@settings(max_examples=60)
@given(expressions(max_leaves=8))
def test_the_shards_together_answer_what_one_node_answers(shard_engines: list[Engine], engine: Engine,
                                                          oracle: Oracle, expr: Expr) -> None:
    text = format_expr(expr)
    total = sum(e.count(text).count for e in shard_engines)
    assert total == engine.count(text).count == len(brute_force(expr, oracle)), text


def test_a_later_load_replaces_its_dimensions_on_every_shard(tmp_path: pathlib.Path) -> None:
    pl.DataFrame({"user_id": [f"u{i}" for i in range(60)], "city": ["a", "b", "c"] * 20}).write_parquet(
        tmp_path / "first.parquet")
    load_tags_into_cluster([str(tmp_path / "first.parquet")], tmp_path / "root", shards=4, shard_bits=6)
    pl.DataFrame({"user_id": ["u1"], "city": ["z"]}).write_parquet(tmp_path / "second.parquet")
    reports = load_tags_into_cluster([str(tmp_path / "second.parquet")], tmp_path / "root", shard_bits=6)
    assert [r.version for r in reports] == [2, 2, 2, 2]  # every shard wrote a version, rows or not
    engines = [Engine(d) for d in read_cluster(tmp_path / "root").shard_dirs(tmp_path / "root")]
    assert sum(e.count("city=z").count for e in engines) == 1
    assert sum(e.count("city IN (a, b, c)").count for e in engines) == 0  # replaced, as on one node
    assert sum(e.count("ALL").count for e in engines) == 60  # users stay


def test_the_shard_count_is_fixed_when_the_root_is_created(tmp_path: pathlib.Path) -> None:
    pl.DataFrame({"user_id": [1, 2, 3], "city": ["a", "b", "c"]}).write_parquet(tmp_path / "t.parquet")
    with pytest.raises(LoadError, match="give --shards N"):
        load_tags_into_cluster([str(tmp_path / "t.parquet")], tmp_path / "root")
    load_tags_into_cluster([str(tmp_path / "t.parquet")], tmp_path / "root", shards=2, shard_bits=6)
    with pytest.raises(LoadError, match="has 2 shards, not 3"):
        load_tags_into_cluster([str(tmp_path / "t.parquet")], tmp_path / "root", shards=3)
    assert json.loads((tmp_path / "root" / CLUSTER_FILE).read_text())["id_type"] == "int64"
    pl.DataFrame({"user_id": ["x"], "city": ["a"]}).write_parquet(tmp_path / "s.parquet")
    with pytest.raises(LoadError, match="this cluster's user IDs are int64"):
        load_tags_into_cluster([str(tmp_path / "s.parquet")], tmp_path / "root")
    assert not list((tmp_path / "root").glob("shard-*/incoming"))  # no part file left behind


def test_a_damaged_cluster_file_is_named(tmp_path: pathlib.Path) -> None:
    with pytest.raises(SnapshotError, match="not a cluster data root"):
        read_cluster(tmp_path)
    (tmp_path / CLUSTER_FILE).write_text('{"shards": "many"}')
    with pytest.raises(SnapshotError, match="cluster.json is not valid"):
        read_cluster(tmp_path)


def test_a_load_that_fails_on_a_later_shard_changes_no_shard(tmp_path: pathlib.Path) -> None:
    users = [f"u{i}" for i in range(60)]
    pl.DataFrame({"user_id": users, "city": ["a"] * 60}).write_parquet(tmp_path / "first.parquet")
    load_tags_into_cluster([str(tmp_path / "first.parquet")], tmp_path / "root", shards=3, shard_bits=6, keep=1)
    owner = shard_of(pl.Series(users), "string", 3).tolist()
    last = users[owner.index(2)]  # a user of the last shard: shards 0 and 1 commit before it fails
    pl.DataFrame({"user_id": [*users, last], "city": ["b"] * 60 + ["c"]}).write_parquet(tmp_path / "bad.parquet")
    with pytest.raises(LoadError, match="several values of single-valued column 'city'"):
        load_tags_into_cluster([str(tmp_path / "bad.parquet")], tmp_path / "root", shard_bits=6, keep=1)
    dirs = read_cluster(tmp_path / "root").shard_dirs(tmp_path / "root")
    engines = [Engine(d) for d in dirs]
    assert [e.status().snapshot_version for e in engines] == [1, 1, 1]  # keep=1 pruned nothing early
    assert sum(e.count("city=a").count for e in engines) == 60 and sum(e.count("city=b").count for e in engines) == 0


def test_bad_ids_are_refused_before_any_shard_changes(tmp_path: pathlib.Path) -> None:
    pl.DataFrame({"user_id": ["a", None], "city": ["x", "y"]}).write_parquet(tmp_path / "nulls.parquet")
    with pytest.raises(LoadError, match="null values"):
        load_tags_into_cluster([str(tmp_path / "nulls.parquet")], tmp_path / "root", shards=2)
    assert not (tmp_path / "root" / CLUSTER_FILE).exists()  # a failed first load leaves no root behind
    assert not list((tmp_path / "root").glob("shard-*/versions/*"))


def test_keep_days_drops_the_same_days_on_every_shard(tmp_path: pathlib.Path) -> None:
    """Only shard 0's users have the late days: every shard counts the window back from the cluster's newest."""
    users = pl.Series("user_id", list(range(1, 61)), dtype=pl.Int64)
    late = shard_of(users, "int64", SHARDS) == 0
    rows = [(u, "c", "imp", f"2026-10-{d:02d}") for u, is_late in zip(users.to_list(), late, strict=True)
            for d in range(1, 31 if is_late else 21)]
    frame = pl.DataFrame(rows, schema=["user_id", "campaign", "event", "date"], orient="row")
    frame.write_parquet(tmp_path / "events.parquet")
    pl.DataFrame({"user_id": users, "tier": ["a"] * 60}).write_parquet(tmp_path / "tags.parquet")
    load_tags_into_cluster([str(tmp_path / "tags.parquet")], tmp_path / "root", shards=SHARDS)
    reports = load_events_into_cluster([str(tmp_path / "events.parquet")], tmp_path / "root", keep_days=7)
    load_tags([str(tmp_path / "tags.parquet")], tmp_path / "single")
    single = load_events([str(tmp_path / "events.parquet")], tmp_path / "single", keep_days=7)
    assert single.dropped_days == 23
    kept = Engine(tmp_path / "single").list_campaigns()["c"]["imp"]
    shard_days = [Engine(d).list_campaigns().get("c", {}).get("imp", [])
                  for d in read_cluster(tmp_path / "root").shard_dirs(tmp_path / "root")]
    assert sorted(set().union(*shard_days)) == kept == [f"2026-10-{d:02d}" for d in range(24, 31)]
    assert shard_days[1] == shard_days[2] == []  # their own newest day (the 20th) is older than the window
    assert all(r.dropped_days > 0 for r in reports)


def test_inputs_split_file_by_file_add_up_to_one_node(tmp_path: pathlib.Path, frame: pl.DataFrame,
                                                      engine: Engine) -> None:
    """The split holds one input file in memory at a time; three files load what one frame loads."""
    third = len(frame) // 3
    for i, start in enumerate((0, third, 2 * third)):
        frame.slice(start, third if i < 2 else len(frame) - start).write_parquet(tmp_path / f"users-{i}.parquet")
    load_tags_into_cluster([str(tmp_path / "users-*.parquet")], tmp_path / "root", shards=SHARDS, shard_bits=9)
    engines = shard_engines_of(tmp_path / "root")
    for expression in ("ALL", "gender=F AND interest=tennis", "NOT vip=true"):
        assert sum(e.count(expression).count for e in engines) == engine.count(expression).count
    assert not list((tmp_path / "root").glob("shard-*/incoming"))  # the parts are gone


def test_files_with_different_id_types_are_refused(tmp_path: pathlib.Path) -> None:
    pl.DataFrame({"user_id": [1, 2], "city": ["a", "b"]}).write_parquet(tmp_path / "a.parquet")
    pl.DataFrame({"user_id": ["x"], "city": ["c"]}).write_parquet(tmp_path / "b.parquet")
    with pytest.raises(LoadError, match="b.parquet: its user IDs are string"):
        load_tags_into_cluster([str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet")], tmp_path / "root",
                               shards=2)
    assert not list((tmp_path / "root").glob("shard-*/incoming/*"))


def shard_engines_of(root: pathlib.Path) -> list[Engine]:
    return [Engine(d) for d in read_cluster(root).shard_dirs(root)]
