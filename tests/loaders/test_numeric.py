"""Loading numeric fields: the auto rule, --numeric scales, rounding, long layout, and inputs refused by row."""

from __future__ import annotations

import datetime
import pathlib

import polars as pl
import pytest

from dolphin.engine import Engine
from dolphin.errors import LoadError
from loaders.numeric import AUTO_DISTINCT, parse_numeric_flag
from loaders.tags import load_tags


def _load(tmp_path: pathlib.Path, frame: pl.DataFrame, **kwargs: object) -> tuple[object, Engine]:
    frame.write_parquet(tmp_path / "in.parquet")
    report = load_tags([str(tmp_path / "in.parquet")], tmp_path / "data", shard_bits=4, **kwargs)  # type: ignore[arg-type]
    return report, Engine(tmp_path / "data")


def test_auto_rule_and_its_report(tmp_path: pathlib.Path) -> None:
    n = AUTO_DISTINCT + 50
    frame = pl.DataFrame({
        "user_id": range(n), "level": [i % 5 for i in range(n)], "visits": range(n),
        "ratio": [i / 8 for i in range(n)], "born": [datetime.date(2000, 1, 1)] * n, "city": ["x"] * n,
    })
    report, engine = _load(tmp_path, frame)
    assert report.numeric == {  # type: ignore[attr-defined]
        "visits": f"integer (auto: integer column with {n} distinct values (> {AUTO_DISTINCT}))",
        "ratio": "decimal(3) (auto: float column, 3 places)", "born": "date (auto: date column, in days)"}
    assert engine.count("level=3").count == n // 5  # few distinct integers stay tags
    assert engine.count("ratio >= 1.125").count == n - 9 and engine.count("born = 2000-01-01").count == n


def test_no_auto_and_explicit_scales(tmp_path: pathlib.Path) -> None:
    frame = pl.DataFrame({"user_id": [1, 2, 3], "cents": [105, -2, 0], "score": [0.12345, 0.5, None],
                          "text": ["1.5", "-0.25", None]})
    report, engine = _load(tmp_path, frame, numeric={"cents": 2, "score": 2, "text": None}, auto_numeric=False)
    assert report.numeric == {"cents": "decimal(2) (--numeric)", "score": "decimal(2) (--numeric)",  # type: ignore[attr-defined]
                              "text": "decimal(2) (--numeric)"}
    assert report.notes == ["score: rounded 1 values to 2 decimal places (give --numeric score:SCALE to keep more)"]  # type: ignore[attr-defined]
    total = engine.aggregate("ALL", ["cents", "score", "text"], statistics=["sum", "count"]).fields
    assert [(f.count, f.sum) for f in total] == [(3, 10500 - 200), (2, 12 + 50), (2, 150 - 25)]


def test_long_layout_numbers(tmp_path: pathlib.Path) -> None:
    numbers = pl.DataFrame({"user_id": [1, 1, 2, 3], "dimension": ["age", "gmv", "age", "gmv"],
                            "value": [30.0, 12.5, 41.0, 3.25]})
    report, engine = _load(tmp_path, numbers, layout="long")
    assert report.numeric == {"age": "integer (numeric values)", "gmv": "decimal(2) (numeric values)"}  # type: ignore[attr-defined]
    assert engine.count("age > 35").count == 1 and engine.aggregate("ALL", ["gmv"]).fields[0].sum == 1575
    texts = pl.DataFrame({"user_id": [1, 2, 3], "dimension": ["spend", "spend", "city"], "value": ["1.25", "-3", "x"]})
    (tmp_path / "t").mkdir()
    report, engine = _load(tmp_path / "t", texts, layout="long", numeric={"spend": None})
    assert report.numeric == {"spend": "decimal(2) (--numeric)"}  # type: ignore[attr-defined]
    assert engine.count("spend < 0").count == 1 and engine.count("city=x").count == 1


@pytest.mark.parametrize(("frame", "kwargs", "message"), [
    (pl.DataFrame({"user_id": [1, 2], "x": [1.5, float("nan")]}), {}, "column 'x' row 1: nan is not a value"),
    (pl.DataFrame({"user_id": [1, 2], "x": [1.5, float("inf")]}), {}, "row 1: inf is not a value"),
    (pl.DataFrame({"user_id": [1, 2], "x": [1, 10]}), {"numeric": {"x": 18}},
     "row 1: 10 with 18 decimal places is out of range"),
    (pl.DataFrame({"user_id": [1, 1], "x": [1.5, 2.5]}), {}, "several values of numeric column 'x'"),
    (pl.DataFrame({"user_id": [1], "x": ["1"]}), {"numeric": {"y": None}}, "--numeric names columns the input does "
                                                                           "not have: y"),
    (pl.DataFrame({"user_id": [1, 2], "x": ["1.5", "abc"]}), {"numeric": {"x": 1}}, 'row 1: "abc" is not a number'),
    (pl.DataFrame({"user_id": [1, 2], "x": [True, False]}), {"numeric": {"x": None}}, "--numeric takes integer"),
])
def test_bad_numeric_inputs(tmp_path: pathlib.Path, frame: pl.DataFrame, kwargs: dict[str, object],
                            message: str) -> None:
    with pytest.raises(LoadError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _load(tmp_path, frame, **kwargs)
    assert not (tmp_path / "data" / "versions").exists() or not any((tmp_path / "data" / "versions").iterdir())


def test_numeric_flags() -> None:
    assert parse_numeric_flag("gmv:2") == ("gmv", 2) and parse_numeric_flag("age") == ("age", None)
    assert parse_numeric_flag("a:b:3") == ("a:b", 3)
    with pytest.raises(ValueError, match="0 to 18"):
        parse_numeric_flag("gmv:19")
