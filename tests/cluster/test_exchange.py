"""Bitmap export and import through a cluster front equal one node's: the same bytes out, the same counts in."""

from __future__ import annotations

import pathlib
import shutil

import numpy as np

from dolphin.client import Client
from dolphin.engine import Engine
from dolphin.storage.bitmap_formats import BitmapFormat, encode_ids
from tests.cluster.conftest import Front

EXPRESSION = "gender=F AND (city=Hangzhou OR interest=tennis)"


def test_bitmap_exports_equal_one_node_byte_for_byte(front: Front, ad_engine: Engine) -> None:
    with Client(front.target) as client:
        for fmt in BitmapFormat:
            for wide in (False, True):
                data = client.export_bitmap(EXPRESSION, str(fmt), bitmap_64=wide)
                assert data == ad_engine.export_bitmap(EXPRESSION, fmt, wide=wide).data


def test_an_imported_bitmap_lands_on_the_shards_that_own_its_users(front: Front, ad_world: dict[str, object],
                                                                    tmp_path: pathlib.Path) -> None:
    shutil.copytree(ad_world["data"], tmp_path / "data")  # type: ignore[arg-type]
    ad_engine = Engine(tmp_path / "data")  # a private one node: saving must not touch the shared world
    users = np.frombuffer(ad_engine.audience("gender=F")[1].to_array(), dtype=np.uint32)
    external = np.sort(ad_engine.snapshot().ids.decode_integers(users[::3]).view(np.uint64))
    ids = np.concatenate([external, np.array([1, 2, 2**63 + 5], dtype=np.uint64)])  # three no user has
    raw = encode_ids(np.sort(ids), BitmapFormat.DORIS)
    with Client(front.target) as client:
        saved = client.save_audience("from_doris_cluster", bitmap=raw, bitmap_format="doris", overwrite=True)
        assert (saved.count, saved.unknown_ids) == (len(external), 3)
        assert client.get_audience("from_doris_cluster").unknown_ids == 3
        assert client.count("@from_doris_cluster AND gender=F") == len(external)
        local = ad_engine.save_audience_bitmap("from_doris_local", raw, BitmapFormat.DORIS, overwrite=True)
        assert (local.count, local.unknown_ids) == (saved.count, saved.unknown_ids)
        for term in ("interest=tennis", "city=Hangzhou", "NOT vip=true"):
            assert client.count(f"@from_doris_cluster AND {term}") == ad_engine.count(
                f"@from_doris_local AND {term}").count
