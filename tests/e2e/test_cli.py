"""The `dolphin` command: exit statuses, one-line errors, progress output, query subcommands."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import polars as pl
import pytest

from tests.conftest import Oracle, RunningServer

pytestmark = pytest.mark.e2e


def dolphin(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dolphin", *args], capture_output=True, text=True, timeout=timeout)


def test_help_lists_every_command() -> None:
    result = dolphin("--help")
    assert result.returncode == 0
    for name in ("serve", "load", "query", "audience", "status", "reload", "health", "demo"):
        assert name in result.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["missing.parquet"], "error: missing.parquet: no such file"),
    (["nothing-*.parquet"], "error: nothing-*.parquet: the glob matches no files"),
])
def test_load_errors_are_one_line_exit_1(tmp_path: pathlib.Path, args: list[str], message: str) -> None:
    result = subprocess.run([sys.executable, "-m", "dolphin", "load", "tags", *args, "--data-dir", "d"],
                            capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip() == message
    assert "Traceback" not in result.stderr


def test_load_missing_id_column_and_usage_error(tmp_path: pathlib.Path) -> None:
    pl.DataFrame({"uid": [1], "a": ["x"]}).write_parquet(tmp_path / "x.parquet")
    result = dolphin("load", "tags", str(tmp_path / "x.parquet"), "--data-dir", str(tmp_path / "d"))
    assert result.returncode == 1 and result.stderr.startswith('error: the input has no ID column "user_id"')
    assert dolphin("load", "tags").returncode == 2
    assert dolphin("serve", "--port", "70000").returncode == 1


def test_load_refuses_a_ragged_csv_row_in_one_line(tmp_path: pathlib.Path) -> None:
    (tmp_path / "r.csv").write_text("uid,gender,city\n1,F,A\n2,M\n3,F,B,EXTRA\n")
    result = dolphin("load", "tags", str(tmp_path / "r.csv"), "--data-dir", str(tmp_path / "d"), "--id-column", "uid")
    errors = [line for line in result.stderr.splitlines() if not line.startswith("load: ")]
    assert result.returncode == 1 and errors == [
        f"error: {tmp_path / 'r.csv'}: line 4 has 4 fields but the header has 3; quote values that contain the "
        "separator"], result.stderr
    assert not (tmp_path / "d" / "versions").exists() or not any((tmp_path / "d" / "versions").iterdir())


def test_load_piped_output_has_no_progress_bar(tmp_path: pathlib.Path) -> None:
    pl.DataFrame({"id": ["a", "b"], "city": ["x", None]}).write_csv(tmp_path / "x.csv")
    result = dolphin("load", "tags", str(tmp_path / "x.csv"), "--data-dir", str(tmp_path / "d"), "--id-column", "id")
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stderr and "load: 1/1 dimensions done" in result.stderr
    assert result.stdout.startswith("loaded version 1: 2 rows, 2 users (2 new), 1 dimensions, 1 tags")


def test_query_commands(server: RunningServer, oracle: Oracle) -> None:
    target = ["--target", server.target]
    count = dolphin("query", "count", "gender=F AND interest=tennis", *target)
    truth = oracle.tag("gender", "F") & oracle.tag("interest", "tennis")
    assert count.returncode == 0 and int(count.stdout) == len(truth)
    exported = dolphin("query", "export", "gender=F AND interest=tennis", "--page-size", "7", *target)
    assert set(exported.stdout.split()) == truth
    profile = dolphin("query", "profile", "gender=F", "--dimension", "vip", *target)
    assert profile.returncode == 0 and "vip (2 values)" in profile.stdout
    overlap = dolphin("query", "overlap", "gender=F", "vip=true", *target)
    assert overlap.returncode == 0 and "#1 AND #2" in overlap.stdout
    bad = dolphin("query", "count", "gender=", *target)
    assert bad.returncode == 1 and bad.stderr.strip().startswith("error: 1:8: expected a value")
    assert dolphin("health", *target).stdout.strip() == "SERVING"
    assert '"snapshotVersion"' in dolphin("status", *target).stdout


def test_query_with_a_lone_surrogate_escape_answers_in_one_line(server: RunningServer) -> None:
    result = dolphin("query", "count", '"\\uD800"=x', "--target", server.target, "--timeout", "20", timeout=60)
    assert result.returncode == 1 and result.stderr.startswith(
        "error: 1:2: expected a low surrogate \\uDC00-\\uDFFF after \\uD800"), result.stderr


def test_health_fails_when_nothing_listens() -> None:
    result = dolphin("health", "--target", "127.0.0.1:1", "--timeout", "0.5")
    assert result.returncode == 1 and result.stderr.startswith("error: health check failed")


def test_demo_no_serve(tmp_path: pathlib.Path) -> None:
    result = dolphin("demo", "--users", "500", "--no-serve", "--data-dir", str(tmp_path / "d"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "d" / "versions" / "0000000001" / "manifest.json").exists()


def test_load_into_a_cluster_root(tmp_path: pathlib.Path) -> None:
    import polars as pl

    pl.DataFrame({"user_id": list(range(40)), "city": ["a", "b"] * 20}).write_parquet(tmp_path / "t.parquet")
    root = str(tmp_path / "root")
    first = dolphin("load", "tags", str(tmp_path / "t.parquet"), "--data-root", root, "--shards", "3")
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("shard ") == 3 and "loaded 40 rows into 3 shards" in first.stdout
    again = dolphin("load", "tags", str(tmp_path / "t.parquet"), "--data-root", root, "--shards", "2")
    assert again.returncode == 1 and "has 3 shards, not 2" in again.stderr and again.stderr.count("\n") == 1
    stray = dolphin("load", "tags", str(tmp_path / "t.parquet"), "--shards", "2", "--data-dir", str(tmp_path / "d"))
    assert stray.returncode == 2 and "give --data-root" in stray.stderr
    for kind in ("tags", "events", "embeddings"):  # Ray tasks load a cluster root, never one data dir
        stray = dolphin("load", kind, str(tmp_path / "t.parquet"), "--ray-address", "head:6379",
                        "--data-dir", str(tmp_path / "d"))
        assert stray.returncode == 2 and "give --data-root" in stray.stderr, (kind, stray.stderr)
