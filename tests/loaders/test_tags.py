"""Batch loader: layouts, formats, value rules, replacing dimensions, stable IDs, and bad inputs."""

from __future__ import annotations

import pathlib

import numpy as np
import polars as pl
import pytest

from dolphin.engine import Engine
from dolphin.errors import LoadError
from dolphin.storage import open_newest_snapshot
from loaders.tags import load_tags
from tests.conftest import Oracle, oracle_from_frame


def snapshot_tags(data_dir: pathlib.Path) -> dict[tuple[str, str], set[str]]:
    snap = open_newest_snapshot(data_dir)
    assert snap is not None
    out = {}
    for dim, values in snap.tags.items():
        for value, bm in values.items():
            out[(dim, value)] = set(snap.ids.decode(np.frombuffer(bm.to_array(), dtype=np.uint32)))
    return out


def test_wide_parquet_matches_raw_frame(loaded_dir: pathlib.Path, oracle: Oracle) -> None:
    assert snapshot_tags(loaded_dir) == oracle.tags
    snap = open_newest_snapshot(loaded_dir)
    assert snap is not None
    assert {d: str(k) for d, k in snap.dimensions.items()} == oracle.kinds
    assert set(snap.ids.decode(np.frombuffer(snap.population.to_array(), dtype=np.uint32))) == oracle.population


def test_value_rules_bool_int_null_string(tmp_path: pathlib.Path) -> None:
    frame = pl.DataFrame({
        "user_id": ["u1", "u2", "u3"],
        "vip": [True, False, None],
        "age": [25, None, 25],
        "name": ["e\u0301", "é", None],
        "tags": [["a", "b"], [], None],
    })
    frame.write_parquet(tmp_path / "in.parquet")
    load_tags([str(tmp_path / "in.parquet")], tmp_path / "d")
    assert snapshot_tags(tmp_path / "d") == {
        ("vip", "true"): {"u1"}, ("vip", "false"): {"u2"}, ("age", "25"): {"u1", "u3"},
        ("name", "é"): {"u1", "u2"}, ("tags", "a"): {"u1"}, ("tags", "b"): {"u1"},
    }


def test_csv_and_globs_of_several_files(tmp_path: pathlib.Path, frame: pl.DataFrame) -> None:
    scalar = frame.select([c for c in frame.columns if not isinstance(frame.schema[c], pl.List)])
    scalar = scalar.with_columns(pl.col(pl.Categorical).cast(pl.String))
    scalar[:1000].write_csv(tmp_path / "part-1.csv")
    scalar[1000:].write_csv(tmp_path / "part-2.csv")
    load_tags([str(tmp_path / "part-*.csv")], tmp_path / "d")
    assert snapshot_tags(tmp_path / "d") == oracle_from_frame(scalar).tags


def test_long_layout_infers_kinds(tmp_path: pathlib.Path) -> None:
    long = pl.DataFrame({
        "user_id": [1, 1, 2, 3, 3, 3],
        "dimension": ["city", "interest", "city", "interest", "interest", "city"],
        "value": ["hz", "tennis", "sh", "tennis", "golf", "hz"],
    })
    long.write_parquet(tmp_path / "long.parquet")
    load_tags([str(tmp_path / "long.parquet")], tmp_path / "d", layout="long")
    snap = open_newest_snapshot(tmp_path / "d")
    assert snap is not None
    assert {d: str(k) for d, k in snap.dimensions.items()} == {"city": "single", "interest": "multi"}
    assert snapshot_tags(tmp_path / "d") == {
        ("city", "hz"): {"1", "3"}, ("city", "sh"): {"2"}, ("interest", "tennis"): {"1", "3"},
        ("interest", "golf"): {"3"},
    }


def test_reload_replaces_carried_dimensions_only_and_keeps_ids(tmp_path: pathlib.Path) -> None:
    pl.DataFrame({"user_id": [10, 20], "city": ["hz", "sh"], "vip": [True, False]}).write_parquet(tmp_path / "a.pq")
    load_tags([str(tmp_path / "a.pq")], tmp_path / "d")
    engine = Engine(tmp_path / "d")
    engine.save_audience("hz", "city=hz")
    pl.DataFrame({"user_id": [30, 10], "city": ["bj", "sh"]}).write_parquet(tmp_path / "b.pq")
    report = load_tags([str(tmp_path / "b.pq")], tmp_path / "d")
    assert report.new_users == 1 and report.users == 3
    assert snapshot_tags(tmp_path / "d") == {
        ("city", "bj"): {"30"}, ("city", "sh"): {"10"}, ("vip", "true"): {"10"}, ("vip", "false"): {"20"},
    }
    snap = open_newest_snapshot(tmp_path / "d")
    assert snap is not None and snap.ids.decode(np.array([0, 1, 2], dtype=np.uint32)) == ["10", "20", "30"]
    assert engine.reload().changed
    assert list(engine.export_pages("@hz")) [0].user_ids == ["10"]  # saved audience kept, still user 10
    assert engine.count("@hz AND city=sh").count == 1


def test_same_load_twice_gives_same_answers(tmp_path: pathlib.Path, frame: pl.DataFrame) -> None:
    frame.write_parquet(tmp_path / "in.parquet")
    load_tags([str(tmp_path / "in.parquet")], tmp_path / "d", shard_bits=10)
    first = snapshot_tags(tmp_path / "d")
    report = load_tags([str(tmp_path / "in.parquet")], tmp_path / "d", shard_bits=10)
    assert report.version == 2 and report.new_users == 0
    assert snapshot_tags(tmp_path / "d") == first


def test_keep_prunes_old_versions(tmp_path: pathlib.Path) -> None:
    pl.DataFrame({"user_id": [1], "a": ["x"]}).write_parquet(tmp_path / "in.parquet")
    for _ in range(4):
        report = load_tags([str(tmp_path / "in.parquet")], tmp_path / "d", keep=2)
    assert report.pruned == [2]
    assert sorted(p.name for p in (tmp_path / "d" / "versions").iterdir()) == ["0000000003", "0000000004"]


def bad_inputs(tmp: pathlib.Path) -> list[tuple[list[str], dict[str, str], str]]:
    (tmp / "empty.parquet").write_bytes(b"")
    (tmp / "garbage.parquet").write_bytes(b"PAR1 this is not parquet at all")
    pl.DataFrame({"uid": [1], "a": ["x"]}).write_parquet(tmp / "noid.parquet")
    pl.DataFrame({"user_id": [1, None], "a": ["x", "y"]}).write_parquet(tmp / "nullid.parquet")
    pl.DataFrame({"user_id": [1, 1], "a": ["x", "y"]}).write_parquet(tmp / "dup.parquet")
    pl.DataFrame({"user_id": [], "a": []}, schema={"user_id": pl.Int64, "a": pl.String}).write_parquet(
        tmp / "norows.parquet")
    pl.DataFrame({"user_id": [1]}).write_parquet(tmp / "nodims.parquet")
    pl.DataFrame({"user_id": [1], "d": ["x"]}).write_parquet(tmp / "long-missing.parquet")
    return [
        ([str(tmp / "missing.parquet")], {}, "no such file"),
        ([str(tmp / "nothing-*.parquet")], {}, "the glob matches no files"),
        ([str(tmp)], {}, "is a directory"),
        ([str(tmp / "empty.parquet")], {}, "the file is empty"),
        ([str(tmp / "garbage.parquet")], {}, "cannot read as Parquet"),
        ([str(tmp / "noid.parquet")], {}, 'no ID column "user_id"'),
        ([str(tmp / "nullid.parquet")], {}, "1 null values"),
        ([str(tmp / "dup.parquet")], {}, "several values of single-valued column 'a'"),
        ([str(tmp / "norows.parquet")], {}, "no rows"),
        ([str(tmp / "nodims.parquet")], {}, "no dimension columns"),
        ([str(tmp / "long-missing.parquet")], {"layout": "long"}, "missing: dimension, value"),
        ([str(tmp / "noid.parquet")], {"layout": "diagonal"}, "unknown layout"),
    ]


def test_bad_inputs_fail_clearly_and_change_nothing(tmp_path: pathlib.Path) -> None:
    data_dir = tmp_path / "d"
    pl.DataFrame({"user_id": [1], "a": ["x"]}).write_parquet(tmp_path / "good.parquet")
    load_tags([str(tmp_path / "good.parquet")], data_dir)
    inputs = tmp_path / "in"
    inputs.mkdir()
    for files, options, message in bad_inputs(inputs):
        with pytest.raises(LoadError, match=message):
            load_tags(files, data_dir, **options)  # type: ignore[arg-type]
    assert sorted(p.name for p in (data_dir / "versions").iterdir()) == ["0000000001"]


@pytest.mark.parametrize("suffix", [".csv", ".tsv"])
def test_a_ragged_csv_row_is_refused_with_its_line(tmp_path: pathlib.Path, suffix: str) -> None:
    sep = "\t" if suffix == ".tsv" else ","
    rows = [["uid", "gender", "city"], ["1", "F", "A"], ["2", "M"], ["3", "F", "B", "EXTRA"]]
    path = tmp_path / f"ragged{suffix}"
    path.write_text("\n".join(sep.join(r) for r in rows) + "\n")
    with pytest.raises(LoadError, match=r"ragged\.(csv|tsv): line 4 has 4 fields but the header has 3; quote values"):
        load_tags([str(path)], tmp_path / "data", id_column="uid")
    assert open_newest_snapshot(tmp_path / "data") is None  # nothing was written


def test_quoted_separators_and_short_rows_load(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "ok.csv"
    path.write_text('uid,gender,city\n1,F,"Xi\'an, Shaanxi"\n2,M\n3,F,B\n')
    load_tags([str(path)], tmp_path / "data", id_column="uid")
    engine = Engine(tmp_path / "data")
    assert engine.count('city="Xi\'an, Shaanxi"').count == 1
    assert engine.count("city IN (B)").count == 1 and engine.count("gender=M").count == 1  # a short row: no city
