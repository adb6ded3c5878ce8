"""A cluster shard's pin, on disk alone: which versions a pinned shard opens, what a checkpoint records as its
batch, and what pruning keeps. (tests/cluster/test_versions.py does the same through a running cluster.)"""

from __future__ import annotations

import dataclasses
import pathlib

import polars as pl
import pytest

from dolphin.engine import Engine
from dolphin.errors import PreconditionError
from dolphin.storage import layout, open_newest_snapshot
from dolphin.storage.cluster_file import (
    CLUSTER_FILE,
    COMMITTED_FILE,
    PINS_FILE,
    ClusterLayout,
    newest_batches,
    shard_pin,
    write_batches,
    write_cluster,
)
from dolphin.storage.manifest import Manifest
from dolphin.storage.reader import read_manifest
from dolphin.storage.writer import prune_versions
from dolphin.stream.checkpoint import write_checkpoint
from loaders.tags import load_tags


def load_wave(shard_dir: pathlib.Path, wave: int) -> int:
    path = shard_dir.parent / f"wave{wave}.parquet"
    pl.DataFrame({"user_id": list(range(50)), "wave": [str(wave)] * 50}).write_parquet(path)
    return load_tags([str(path)], shard_dir, shard_bits=6, keep=0).version


def checkpoint(shard_dir: pathlib.Path, engine: Engine) -> int:
    snap = engine.snapshot()
    stream = dataclasses.replace(snap.stream, offsets={"s": snap.stream.sequence + 1})
    return write_checkpoint(shard_dir, snap.with_stream(stream, snap.data, set()), 0, 0.25)[0]


def manifest(shard_dir: pathlib.Path, version: int) -> Manifest:
    return read_manifest(layout.versions_dir(shard_dir) / layout.version_name(version))


@pytest.fixture
def shard(tmp_path: pathlib.Path) -> pathlib.Path:
    root = tmp_path / "root"
    cluster = ClusterLayout(shards=1, id_type="int64")
    root.mkdir()
    write_cluster(root, cluster)
    return cluster.shard_dir(root, 0)


def test_a_checkpoint_records_the_load_its_state_comes_from(shard: pathlib.Path) -> None:
    first = load_wave(shard, 1)
    engine = Engine(shard)
    ckpt = checkpoint(shard, engine)
    assert manifest(shard, first).batch == first
    assert manifest(shard, ckpt).batch == first
    assert manifest(shard, ckpt).batch_version == first


def test_a_pinned_shard_opens_the_newest_version_of_its_pinned_load(shard: pathlib.Path) -> None:
    root = shard.parent
    first = load_wave(shard, 1)
    engine = Engine(shard)
    assert shard_pin(shard) is None  # no pins yet: a single node's rules
    write_batches(root, PINS_FILE, [first])
    second = load_wave(shard, 2)
    ckpt = checkpoint(shard, engine)  # numbered after the second load, but of the first
    assert ckpt > second and shard_pin(shard) == first
    opened = open_newest_snapshot(shard, batch_at_most=first)
    assert opened is not None and opened.version == ckpt
    assert not engine.reload().changed  # the waiting load is not the pin's
    assert engine.count("wave=1").count == 50
    write_batches(root, PINS_FILE, [second])
    opened = open_newest_snapshot(shard, batch_at_most=second)
    assert opened is not None and opened.version == second  # the pinned load before a newer checkpoint
    assert engine.reload().changed and engine.count("wave=2").count == 50
    assert engine.served_batch() == second


def test_prepare_refuses_a_load_the_shard_does_not_have(shard: pathlib.Path) -> None:
    first = load_wave(shard, 1)
    engine = Engine(shard)
    write_batches(shard.parent, PINS_FILE, [first])
    with pytest.raises(PreconditionError, match="no valid version of batch load 9"):
        engine.prepare_version(9)
    second = load_wave(shard, 2)
    assert engine.prepare_version(second) == first  # opened, held; still serving the first
    assert engine.count("wave=1").count == 50
    with pytest.raises(PreconditionError, match="pinned to batch version 1, not 2"):
        engine.serve_version(second)
    write_batches(shard.parent, PINS_FILE, [second])
    served = engine.serve_version(second)
    assert served.batch_version == second and served.reload.changed


def test_pruning_keeps_what_the_pins_need(shard: pathlib.Path) -> None:
    root = shard.parent
    first = load_wave(shard, 1)
    engine = Engine(shard)
    write_batches(root, PINS_FILE, [first])
    second = load_wave(shard, 2)
    write_batches(root, COMMITTED_FILE, [second])  # completed, waiting for the front's reload
    newest = [checkpoint(shard, engine) for _ in range(3)][-1]
    pruned = prune_versions(shard, 1)
    assert set(layout.list_versions(shard)) == {second, newest}  # the waiting load, the pin's newest state
    assert first in pruned
    assert newest_batches(root, ClusterLayout(shards=1, id_type="int64")) == [second]


def test_a_single_node_data_dir_has_no_pin(tmp_path: pathlib.Path) -> None:
    data = tmp_path / "shard-000"  # named like a shard, but no cluster.json beside it
    load_wave(data, 1)
    write_batches(tmp_path, PINS_FILE, [7])
    assert not (tmp_path / CLUSTER_FILE).exists() and shard_pin(data) is None
