"""Bitmap export and import in the engine: external IDs out in every format, back in with unknown IDs counted,
string and negative IDs refused, bad bytes saving nothing."""

from __future__ import annotations

import pathlib

import numpy as np
import polars as pl
import pytest

from dolphin.engine import Engine
from dolphin.errors import AudienceNotFoundError, InvalidArgumentError, PreconditionError
from dolphin.storage.bitmap_formats import BitmapFormat, decode_ids, encode_ids
from loaders.tags import load_tags


def engine_over(root: pathlib.Path, user_ids: list[object]) -> Engine:
    n = len(user_ids)
    pl.DataFrame({"user_id": user_ids, "tier": [["gold", "silver", "bronze"][i % 3] for i in range(n)]}).write_parquet(
        root / "t.parquet")
    load_tags([str(root / "t.parquet")], root / "data", shard_bits=8)
    return Engine(root / "data")


@pytest.fixture
def engine(tmp_path: pathlib.Path) -> Engine:
    return engine_over(tmp_path, [7 * i + 3 for i in range(1000)] + [2**40 + i for i in range(20)])


@pytest.mark.parametrize("fmt", list(BitmapFormat))
@pytest.mark.parametrize("wide", [False, True])
def test_an_export_holds_exactly_the_audience_s_external_ids(engine: Engine, fmt: BitmapFormat, wide: bool) -> None:
    ids = [7 * i + 3 for i in range(1000)] + [2**40 + i for i in range(20)]
    gold = sorted(u for i, u in enumerate(ids) if i % 3 == 0)
    result = engine.export_bitmap("tier=gold", fmt, wide=wide)
    assert result.count == len(gold) and decode_ids(result.data, fmt).tolist() == gold
    small = engine.export_bitmap("tier=gold AND NOT tier=gold", fmt)
    assert small.count == 0 and decode_ids(small.data, fmt).tolist() == []


def test_an_import_keeps_known_ids_and_counts_the_rest(engine: Engine) -> None:
    wanted = [3, 10, 17, 2**40 + 5, 999_999, 2**63 + 1]  # two unknown, one beyond int64
    saved = engine.save_audience_bitmap("imported", encode_ids(np.array(wanted, dtype=np.uint64),
                                                               BitmapFormat.CLICKHOUSE), BitmapFormat.CLICKHOUSE)
    assert (saved.count, saved.unknown_ids) == (4, 2) and engine.get_audience("imported").unknown_ids == 2
    assert engine.count("@imported AND tier=gold").count == 2  # 3 (index 0) and 2^40+5 (index 1005)
    assert decode_ids(engine.export_bitmap("@imported", BitmapFormat.ROARING).data, BitmapFormat.ROARING).tolist() == [
        3, 10, 17, 2**40 + 5]


@pytest.mark.parametrize("raw", [b"", b"\x02", b"\x01\x05\x00", b":0\x00\x00\x01\x00\x00\x00", b"\x07junk"])
def test_bad_bytes_are_invalid_argument_and_save_nothing(engine: Engine, raw: bytes) -> None:
    with pytest.raises(InvalidArgumentError, match="bitmap is not a valid doris bitmap"):
        engine.save_audience_bitmap("bad", raw, BitmapFormat.DORIS)
    with pytest.raises(AudienceNotFoundError):
        engine.get_audience("bad")


def test_string_and_negative_ids_cannot_be_bitmaps(tmp_path: pathlib.Path) -> None:
    (tmp_path / "s").mkdir()
    strings = engine_over(tmp_path / "s", ["alice", "bob", "carol"])
    with pytest.raises(PreconditionError, match="this data's user IDs are strings"):
        strings.export_bitmap("ALL", BitmapFormat.ROARING)
    with pytest.raises(PreconditionError, match="this data's user IDs are strings"):
        strings.save_audience_bitmap("x", encode_ids(np.array([1], dtype=np.uint64), BitmapFormat.ROARING),
                                     BitmapFormat.ROARING)
    (tmp_path / "n").mkdir()
    negative = engine_over(tmp_path / "n", [-5, 4, 9])
    with pytest.raises(PreconditionError, match="1 negative user IDs"):
        negative.export_bitmap("ALL", BitmapFormat.CLICKHOUSE)
    assert decode_ids(negative.export_bitmap("NOT tier=gold", BitmapFormat.CLICKHOUSE).data,
                      BitmapFormat.CLICKHOUSE).tolist() == [4, 9]
