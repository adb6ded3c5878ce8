"""Audiences in and out through a real server: bitmaps a real ClickHouse (chdb) makes and reads, Doris/StarRocks
bytes, file exports with the CLI (Parquet, CSV, bitmap files), and imports; answers checked against the raw
input with Polars."""

from __future__ import annotations

import base64
import json
import pathlib
import shutil
import subprocess
import sys
from collections.abc import Iterator

import chdb
import grpc
import numpy as np
import polars as pl
import pytest

from dolphin.client import Client
from dolphin.errors import AudienceNotFoundError, InvalidArgumentError
from dolphin.storage.bitmap_formats import BitmapFormat, decode_ids
from dolphin.v1 import audience_service_pb2 as aud_pb
from tests.conftest import RunningServer

pytestmark = pytest.mark.e2e
EXPRESSION = "gender=F AND city IN (Hangzhou, Shanghai)"


@pytest.fixture(scope="module")
def server(ad_world: dict[str, object], tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("exchange")
    shutil.copytree(ad_world["data"], root / "data")  # type: ignore[arg-type]
    running = RunningServer(root / "data", "--max-message-bytes", str(16 * 1024 * 1024))
    yield running
    running.stop()


def truth(ad_world: dict[str, object]) -> pl.DataFrame:
    """The audience's rows of the raw tags input."""
    tags: pl.DataFrame = ad_world["tags"]  # type: ignore[assignment]
    return tags.filter((pl.col("gender") == "F") & pl.col("city").is_in(["Hangzhou", "Shanghai"]))


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dolphin", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("fmt", ["roaring", "clickhouse", "doris"])
def test_bitmap_exports_hold_the_audience(server: RunningServer, ad_world: dict[str, object], fmt: str) -> None:
    want = np.sort(truth(ad_world)["user_id"].to_numpy().astype(np.uint64))
    with Client(server.target) as client:
        chunks = list(client.export_bitmap_chunks(EXPRESSION, fmt))
        data = b"".join(c.bitmap_chunk for c in chunks)
        assert chunks[0].total_count == len(want) and chunks[0].bitmap_bytes == len(data)
        assert np.array_equal(decode_ids(data, BitmapFormat(fmt)), want)
        wide = client.export_bitmap(EXPRESSION, fmt, bitmap_64=True)
        assert wide != data and np.array_equal(decode_ids(wide, BitmapFormat(fmt)), want)


def test_clickhouse_reads_our_state_and_we_read_clickhouse_s(server: RunningServer, ad_world: dict[str, object],
                                                             tmp_path: pathlib.Path) -> None:
    audience = truth(ad_world)["user_id"].to_numpy()
    with Client(server.target) as client:
        for kind, wide in (("UInt32", False), ("UInt64", True)):
            (tmp_path / f"{kind}.bin").write_bytes(client.export_bitmap(EXPRESSION, "clickhouse", bitmap_64=wide))
            table = f"file('{tmp_path / kind}.bin', RowBinary, 'b AggregateFunction(groupBitmap, {kind})')"
            assert int(chdb.query(f"SELECT bitmapCardinality(b) FROM {table}", "CSV").bytes()) == len(audience)
            inside = chdb.query(f"SELECT bitmapContains(b, to{kind}({int(audience[0])})) FROM {table}", "CSV")
            assert inside.bytes().strip() == b"1"
        # ClickHouse builds an audience from the raw input (a campaign's clickers, say) plus IDs we do not have
        users = ad_world["tags"]["user_id"].to_numpy()  # type: ignore[index]
        pl.DataFrame({"user_id": users}).write_parquet(tmp_path / "users.parquet")
        state = chdb.query(
            f"SELECT hex(groupBitmapState(toUInt64(assumeNotNull(user_id)))) FROM (SELECT user_id FROM "
            f"file('{tmp_path / 'users.parquet'}') WHERE user_id % 5 = 0 UNION ALL SELECT toInt64(number + 9e15) "
            "FROM numbers(7))", "CSV").bytes().decode().strip().strip('"')
        saved = client.save_audience("from_clickhouse", bitmap=bytes.fromhex(state), bitmap_format="clickhouse")
        known = int(np.count_nonzero(users % 5 == 0))
        assert (saved.count, saved.unknown_ids) == (known, 7)
        assert client.get_audience("from_clickhouse").unknown_ids == 7
        both = truth(ad_world).filter(pl.col("user_id") % 5 == 0)
        assert client.count(f"@from_clickhouse AND {EXPRESSION}") == len(both)


def test_doris_base64_and_bad_bytes(server: RunningServer, ad_world: dict[str, object], tmp_path: pathlib.Path) -> None:
    with Client(server.target) as client:
        doris = client.export_bitmap(EXPRESSION, "doris")
        (tmp_path / "aud.b64").write_text(base64.b64encode(doris).decode() + "\n")
        imported = run_cli("audience", "import", "from_doris", str(tmp_path / "aud.b64"), "--format", "doris",
                           "--base64", "--target", server.target)
        assert imported.returncode == 0, imported.stderr
        assert json.loads(imported.stdout)["count"] == str(len(truth(ad_world)))
        assert client.count(f"@from_doris AND NOT ({EXPRESSION})") == 0
        with pytest.raises(InvalidArgumentError, match="not a valid doris bitmap"):
            client.save_audience("broken", bitmap=doris[:-3], bitmap_format="doris")
        with pytest.raises(AudienceNotFoundError):
            client.get_audience("broken")
        with pytest.raises(InvalidArgumentError, match="an expression or a bitmap, not both"):
            client.save_audience("both", "ALL", bitmap=doris, bitmap_format="doris")
        request = aud_pb.ExportRequest(expression="ALL", format=aud_pb.EXPORT_FORMAT_DORIS_BITMAP,
                                       order_by=aud_pb.ExportOrder(field="spend"))
        with pytest.raises(grpc.RpcError) as refused:
            list(client.audiences.Export(request))
        assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "leave page_token, max_pages and order_by empty" in str(refused.value.details())
    (tmp_path / "junk.b64").write_text("not base64!")
    bad = run_cli("audience", "import", "x", str(tmp_path / "junk.b64"), "--base64", "--target", server.target)
    assert bad.returncode != 0 and "not base64 text" in bad.stderr


def test_file_exports_with_columns(server: RunningServer, ad_world: dict[str, object], tmp_path: pathlib.Path) -> None:
    out = tmp_path / "audience.parquet"
    done = run_cli("query", "export", EXPRESSION, "--output", str(out), "--with", "age_band,interest,spend,last_seen",
                   "--target", server.target)
    assert done.returncode == 0, done.stderr
    rows = truth(ad_world)
    assert f"wrote {len(rows)} users to {out}" in done.stdout
    got = pl.read_parquet(out)
    numbers: pl.DataFrame = ad_world["numbers"]  # type: ignore[assignment]
    want = rows.select("user_id", "age_band", pl.col("interest").list.sort()).join(
        numbers.select("user_id", "spend", "last_seen"), on="user_id", how="left")
    assert got.columns == ["user_id", "age_band", "interest", "spend", "last_seen"]
    assert got["spend"].dtype == pl.Decimal(38, 2) and got["last_seen"].dtype == pl.Date
    got_sorted, want_sorted = got.sort("user_id"), want.sort("user_id")
    assert got_sorted["user_id"].to_list() == want_sorted["user_id"].to_list()
    assert got_sorted["age_band"].to_list() == want_sorted["age_band"].to_list()
    assert [sorted(x or []) for x in got_sorted["interest"].to_list()] == [  # the loader keeps a value once
        sorted(set(x or [])) for x in want_sorted["interest"].to_list()]
    assert got_sorted["spend"].cast(pl.Float64).round(2).to_list() == want_sorted["spend"].round(2).to_list()
    assert got_sorted["last_seen"].to_list() == want_sorted["last_seen"].to_list()
    csv = tmp_path / "audience.csv"
    assert run_cli("query", "export", EXPRESSION, "--output", str(csv), "--with", "interest",
                   "--target", server.target).returncode == 0
    table = pl.read_csv(csv)
    assert len(table) == len(rows) and table.columns == ["user_id", "interest"]
    bitmap = tmp_path / "audience.ch"
    assert run_cli("query", "export", EXPRESSION, "--output", str(bitmap), "--format", "clickhouse",
                   "--target", server.target).returncode == 0
    table_fn = f"file('{bitmap}', RowBinary, 'b AggregateFunction(groupBitmap, UInt32)')"
    assert int(chdb.query(f"SELECT bitmapCardinality(b) FROM {table_fn}", "CSV").bytes()) == len(rows)


def test_a_failed_export_leaves_the_old_file_whole(server: RunningServer, tmp_path: pathlib.Path) -> None:
    out = tmp_path / "keep.parquet"
    assert run_cli("query", "export", "gender=F", "--output", str(out), "--target", server.target).returncode == 0
    before = out.read_bytes()
    failed = run_cli("query", "export", "gender=F AND", "--output", str(out), "--target", server.target)
    assert failed.returncode != 0 and "expected a term" in failed.stderr
    failed = run_cli("query", "export", "gender=F", "--output", str(out), "--with", "no_such_dimension",
                     "--target", server.target)
    assert failed.returncode != 0 and 'dimension "no_such_dimension" not found' in failed.stderr
    assert out.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["keep.parquet"]
