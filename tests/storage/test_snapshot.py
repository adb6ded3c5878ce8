"""Snapshot writer and reader: round trip across shards, atomic commit, checksums and fallback, pruning."""

from __future__ import annotations

import os
import pathlib

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dolphin.errors import SnapshotError
from dolphin.storage import DimensionKind, IdDictionary, SnapshotWriter, layout, open_newest_snapshot, open_snapshot
from dolphin.storage.writer import bitmap_from_array, prune_versions


def write_version(data_dir: pathlib.Path, tags: dict[str, list[int]], n: int, shard_bits: int = 3) -> int:
    writer = SnapshotWriter(data_dir, shard_bits=shard_bits)
    _, writer.ids = IdDictionary.empty().encode(pl.Series("user_id", list(range(n))))
    writer.population = bitmap_from_array(np.arange(n, dtype=np.uint32))
    writer.set_kind("d", DimensionKind.MULTI)
    for value, members in tags.items():
        writer.add("d", value, np.array(members, dtype=np.uint32))
    return writer.commit()


@settings(max_examples=30)
@given(st.integers(1, 100), st.dictionaries(st.text(min_size=1, max_size=5), st.lists(st.integers(0, 99)),
                                          max_size=6), st.integers(1, 8))
def test_round_trip(tmp_path_factory: pytest.TempPathFactory, n: int, tags: dict[str, list[int]], bits: int) -> None:
    data_dir = tmp_path_factory.mktemp("rt")
    tags = {v: [m for m in ms if m < n] for v, ms in tags.items()}
    version = write_version(data_dir, tags, n, bits)
    snap = open_newest_snapshot(data_dir)
    assert snap is not None and snap.version == version
    assert set(snap.population) == set(range(n))
    assert {v: set(bm) for v, bm in snap.tags["d"].items()} == {v: set(ms) for v, ms in tags.items() if ms}
    assert snap.manifest.shards == max(1, -(-n // (1 << bits)))


def test_versions_increase_and_prune(tmp_path: pathlib.Path) -> None:
    for i in range(4):
        assert write_version(tmp_path, {"a": [i]}, 10) == i + 1
    assert prune_versions(tmp_path, 2) == [1, 2]
    assert layout.list_versions(tmp_path) == [3, 4]


def test_failed_commit_leaves_previous_version(tmp_path: pathlib.Path) -> None:
    write_version(tmp_path, {"a": [1]}, 10)
    writer = SnapshotWriter(tmp_path, shard_bits=3)
    _, writer.ids = IdDictionary.empty().encode(pl.Series("user_id", [1]))
    writer.set_kind("d", DimensionKind.SINGLE)
    writer.add("d", "b", np.array([0], dtype=np.uint32))

    def crash(name: str) -> None:
        raise OSError(f"simulated crash at {name}")

    with pytest.raises(OSError, match="load.before_manifest"):
        writer.commit(failpoint=crash)
    assert layout.list_versions(tmp_path) == [1]
    assert not list(layout.versions_dir(tmp_path).glob(".tmp-*"))
    snap = open_newest_snapshot(tmp_path)
    assert snap is not None and set(snap.tags["d"]) == {"a"}


def test_stale_temporary_from_dead_writer_is_ignored_and_cleaned(tmp_path: pathlib.Path) -> None:
    write_version(tmp_path, {"a": [1]}, 10)
    stale = layout.versions_dir(tmp_path) / ".tmp-999999999-1"
    stale.mkdir()
    (stale / "shard-00000.bitmaps").write_bytes(b"half written")
    assert open_newest_snapshot(tmp_path).version == 1  # type: ignore[union-attr]
    write_version(tmp_path, {"a": [2]}, 10)
    assert not stale.exists()


@pytest.mark.parametrize("damage", ["flip_shard", "truncate_shard", "delete_ids", "bad_manifest", "empty_manifest",
                                    "flip_header"])
def test_damaged_newest_version_falls_back(tmp_path: pathlib.Path, damage: str) -> None:
    write_version(tmp_path, {"a": [1, 2]}, 10)
    write_version(tmp_path, {"a": [3]}, 10)
    path = layout.versions_dir(tmp_path) / layout.version_name(2)
    shard = path / layout.shard_file(0)
    if damage == "flip_shard":
        raw = bytearray(shard.read_bytes())
        raw[-3] ^= 0xFF
        shard.write_bytes(bytes(raw))
    elif damage == "flip_header":
        raw = bytearray(shard.read_bytes())
        raw[2] ^= 0x01
        shard.write_bytes(bytes(raw))
    elif damage == "truncate_shard":
        os.truncate(shard, 10)
    elif damage == "delete_ids":
        (path / layout.IDS_FILE).unlink()
    elif damage == "bad_manifest":
        (path / layout.MANIFEST).write_text('{"format": 1, "version": 2}')
    else:
        (path / layout.MANIFEST).write_bytes(b"")
    with pytest.raises(SnapshotError):
        open_snapshot(path)
    snap = open_newest_snapshot(tmp_path)
    assert snap is not None and snap.version == 1 and set(snap.tags["d"]["a"]) == {1, 2}
    assert snap.skipped_versions and snap.skipped_versions[0].startswith("2:")
