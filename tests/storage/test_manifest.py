"""The typed stream mark: its versioned on-disk form, the untagged dicts older versions wrote, and what a batch
version built on each kind carries."""

from __future__ import annotations

import json
import pathlib

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dolphin.errors import SnapshotError
from dolphin.storage import LogPoint, Manifest, MarkKind, StreamMark, layout, open_newest_snapshot
from dolphin.storage.manifest import STREAM_MARK_FORMAT
from loaders.tags import load_tags

OFFSETS = st.dictionaries(st.text(min_size=1, max_size=8), st.integers(-1, 2**62), max_size=3)
POINTS = st.one_of(st.just(LogPoint()), st.builds(LogPoint, st.integers(0, 2**62)),
                   st.builds(LogPoint, st.none(), st.floats(0, 2e9)))
MARKS = st.one_of(
    st.builds(lambda o: StreamMark(offsets=o), OFFSETS),
    st.builds(StreamMark.checkpoint, st.integers(0, 2**62), OFFSETS),
    st.builds(lambda cut, replaced, carried, o: StreamMark(MarkKind.BATCH, cut_time=cut, replaced=tuple(replaced),
                                                           carried_from=carried, offsets=o),
              st.floats(0, 2e9), st.lists(st.text(min_size=1, max_size=8), unique=True).map(sorted), POINTS, OFFSETS),
)


@given(MARKS)
def test_the_on_disk_form_round_trips_through_json(mark: StreamMark) -> None:
    raw = json.loads(json.dumps(mark.to_json()))
    assert raw["format"] == STREAM_MARK_FORMAT and raw["kind"] == str(mark.kind)
    assert StreamMark.from_json(raw) == mark


@pytest.mark.parametrize("old, typed", [
    ({}, StreamMark()),
    ({"offsets": {"k/0": 9}}, StreamMark(offsets={"k/0": 9})),
    ({"wal_position": 4096, "offsets": {"k/0": 9}}, StreamMark.checkpoint(4096, {"k/0": 9})),
    ({"cut_time": 1.5, "replaced": ["city"], "carried_from": {"wal_position": 64}, "offsets": {}},
     StreamMark(MarkKind.BATCH, cut_time=1.5, replaced=("city",), carried_from=LogPoint(64))),
    ({"cut_time": 2.0, "replaced": [], "carried_from": {"cut_time": 1.0}},
     StreamMark(MarkKind.BATCH, cut_time=2.0, carried_from=LogPoint(None, 1.0))),
    ({"cut_time": 2.0}, StreamMark(MarkKind.BATCH, cut_time=2.0)),
])
def test_untagged_dicts_of_older_versions_parse(old: dict[str, object], typed: StreamMark) -> None:
    assert StreamMark.from_json(old) == typed


def test_a_newer_mark_format_is_refused_with_the_manifest_named(tmp_path: pathlib.Path) -> None:
    data = load(tmp_path)
    path = newest_manifest(data)
    raw = json.loads(path.read_bytes())
    raw["stream"]["format"] = STREAM_MARK_FORMAT + 1
    with pytest.raises(SnapshotError, match="stream mark format"):
        Manifest.from_json(json.dumps(raw).encode(), str(path))


def load(root: pathlib.Path) -> pathlib.Path:
    pl.DataFrame({"user_id": ["a", "b"], "city": ["x", "y"]}).write_parquet(root / "t.pq")
    load_tags([str(root / "t.pq")], root / "data", shard_bits=3, cut_time=12.5)
    return root / "data"


def newest_manifest(data: pathlib.Path) -> pathlib.Path:
    return layout.versions_dir(data) / layout.version_name(layout.list_versions(data)[-1]) / layout.MANIFEST


def test_a_version_written_with_an_untagged_mark_still_opens(tmp_path: pathlib.Path) -> None:
    data = load(tmp_path)
    path = newest_manifest(data)
    raw = json.loads(path.read_bytes())
    assert raw["stream"]["kind"] == "batch" and raw["stream"]["cut_time"] == 12.5
    raw["stream"] = {"cut_time": 12.5, "replaced": ["city"], "carried_from": {}, "offsets": {"s": 3}}
    path.write_text(json.dumps(raw))
    opened = open_newest_snapshot(data)
    assert opened is not None
    assert opened.manifest.stream == StreamMark(MarkKind.BATCH, cut_time=12.5, replaced=("city",),
                                                offsets={"s": 3})


def test_a_batch_version_carries_from_the_point_of_the_one_it_builds_on() -> None:
    offsets = {"s": 4}
    assert StreamMark.checkpoint(900, offsets).after_load({"city"}, 5.0) == StreamMark(
        MarkKind.BATCH, cut_time=5.0, replaced=("city",), carried_from=LogPoint(900), offsets=offsets)
    earlier = StreamMark(MarkKind.BATCH, cut_time=3.0, replaced=("tier",), carried_from=LogPoint(None, 1.0),
                         offsets=offsets)
    assert earlier.after_load({"city", "age"}, 5.0).carried_from == LogPoint(None, 1.0)
    assert earlier.after_load(set(), 5.0).replaced == ()
    assert StreamMark().after_load({"city"}, 5.0).carried_from == LogPoint()  # nothing known: the whole log
