"""Numeric fields through real servers: Aggregate, ordered exports, profiles and ListDimensions over gRPC,
grpcurl and the CLI; streamed number updates that survive kill -9 and a checkpoint chain."""

from __future__ import annotations

import json
import pathlib
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import duckdb
import pytest

from dolphin import errors
from dolphin.client import Client
from dolphin.engine import Engine
from dolphin.v1 import ingest_service_pb2 as pb
from tests.conftest import RunningServer
from tests.e2e.test_grpcurl import GRPCURL

pytestmark = pytest.mark.e2e
SET_NUMBER, CLEAR_NUMBER, DELETE = pb.MUTATION_OP_SET_NUMBER, pb.MUTATION_OP_CLEAR_NUMBER, pb.MUTATION_OP_DELETE_USER


@pytest.fixture(scope="module")
def numeric(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from tests.worlds import build_numeric_world

    return build_numeric_world(tmp_path_factory.mktemp("numbers-e2e"))


@pytest.fixture
def server(numeric: dict[str, Any], tmp_path: pathlib.Path) -> Iterator[RunningServer]:
    shutil.copytree(numeric["data"], tmp_path / "data")
    running = RunningServer(tmp_path / "data", "--checkpoint-seconds", "0", "--min-reportable-count", "3")
    yield running
    running.stop()


def test_grpc_answers_equal_the_engine(server: RunningServer, numeric: dict[str, Any]) -> None:
    engine = Engine(numeric["data"])
    with Client(server.target) as client:
        response = client.aggregate("gender=F", ["spend_30d", "age"], percentiles=[50, 90, 99],
                                    cut_points=["0", "100"])
        local = engine.aggregate("gender=F", ["spend_30d", "age"], percentiles=[50, 90, 99],
                                 cut_points=["0", "100"])
        spend = response.fields[0]
        assert spend.kind == "decimal(2)" and spend.count == local.fields[0].count
        assert spend.sum.exact == f"{local.fields[0].sum / 100:.2f}" and spend.sum.value == pytest.approx(
            local.fields[0].sum / 100)
        assert [p.value.exact for p in spend.percentiles] == [f"{v / 100:.2f}" for _, v in local.fields[0].percentiles]
        dates = client.aggregate("gender=F", ["last_order"], statistics=["min", "mean"]).fields[0]
        assert dates.min.exact.startswith("20") and len(dates.min.exact) == 10 and len(dates.mean.exact) == 10
        assert [b.count for b in spend.histogram] == [b.count for b in local.fields[0].histogram]
        top = next(client.export_pages("ALL", page_size=5, order_by="spend_30d", descending=True))
        assert list(top.user_ids) == next(iter([engine.export_cursor(
            "ALL", page_size=5, order_by="spend_30d", descending=True).next_page().user_ids]))
        one = client.export_page("ALL", page_size=5, order_by="spend_30d", descending=True)
        assert (list(one.user_ids), list(one.order_values), one.next_page_token) == (
            list(top.user_ids), list(top.order_values), top.next_page_token)
        dims = {d.name: d for d in client.list_dimensions(max_values=3)}
        assert dims["age"].numeric.type == "integer" and dims["age"].values == []
        assert (dims["age"].numeric.min.exact, dims["age"].numeric.max.exact) == ("0", "99")
        assert dims["spend_30d"].numeric.scale == 2
        profile = client.profile("gender=F", dimensions=["age"], numeric_cuts={"age": ["30", "60"]})
        assert [v.value for v in profile.dimensions[0].values] == ["(-inf, 30)", "[30, 60)", "[60, +inf)"]
        tiny = client.aggregate("age = 30 AND gender=F AND city=Beijing AND interest=golf", ["spend_30d"])
        assert tiny.audience_suppressed or tiny.fields[0].suppressed  # the privacy floor covers aggregates
        with pytest.raises(errors.QueryTypeError) as raised:
            client.count("gender < 3")
        assert raised.value.details() == {"position": "1:1"}


def test_grpcurl_and_cli(server: RunningServer, numeric: dict[str, Any]) -> None:
    described = subprocess.run([str(GRPCURL), "-plaintext", server.target, "describe",
                                "dolphin.v1.AudienceService.Aggregate"], capture_output=True, text=True, timeout=60)
    assert described.returncode == 0 and "Aggregate returns count, sum, mean" in described.stdout
    called = subprocess.run([str(GRPCURL), "-plaintext", "-d", json.dumps(
        {"expression": "ALL", "fields": ["score"], "percentiles": [50], "statistics": ["STATISTIC_MEAN"]}),
        server.target, "dolphin.v1.AudienceService/Aggregate"], capture_output=True, text=True, timeout=60)
    assert called.returncode == 0, called.stderr
    assert json.loads(called.stdout)["fields"][0]["percentiles"][0]["value"]["exact"].count(".") == 1
    cli = subprocess.run([sys.executable, "-m", "dolphin", "query", "aggregate", "gender=M", "--field", "age",
                          "--percentile", "50", "--target", server.target], capture_output=True, text=True,
                         timeout=60)
    assert cli.returncode == 0 and "age (integer)" in cli.stdout and "p50" in cli.stdout, cli.stderr
    top = subprocess.run([sys.executable, "-m", "dolphin", "query", "export", "ALL", "--order-by", "huge",
                          "--descending", "--page-size", "3", "--target", server.target], capture_output=True,
                         text=True, timeout=60)
    lines = [line.split("\t") for line in top.stdout.splitlines()]
    values = [int(v) for _, v in lines if v]
    assert values == sorted(values, reverse=True) and values[0] == numeric["frame"]["huge"].max()


@pytest.fixture
def plain_server(numeric: dict[str, Any], tmp_path: pathlib.Path) -> Iterator[RunningServer]:
    """A server without the privacy floor (single users' values are the point here)."""
    shutil.copytree(numeric["data"], tmp_path / "data")
    running = RunningServer(tmp_path / "data", "--checkpoint-seconds", "0")
    yield running
    running.stop()


def _batch(source: str, offset: int, *mutations: tuple[str, int, str, str]) -> pb.MutationBatch:
    return pb.MutationBatch(source=source, offset=offset, mutations=[
        pb.Mutation(user_id=u, op=op, dimension=d, value=v) for u, op, d, v in mutations])  # type: ignore[arg-type]


def test_streamed_numbers_survive_kill_and_restarts(plain_server: RunningServer, numeric: dict[str, Any]) -> None:
    server = plain_server
    users = [str(u) for u in numeric["frame"]["user_id"].to_list()[:4]]
    with Client(server.target) as client:
        acks = list(client.mutate(iter([
            _batch("kafka:n/0", 1, (users[0], SET_NUMBER, "spend_30d", "-12.50"), (users[1], SET_NUMBER, "age", "7"),
                   ("99990001", SET_NUMBER, "gmv", "10.25"), (users[2], SET_NUMBER, "last_order", "2027-01-02")),
            _batch("kafka:n/0", 2, (users[1], CLEAR_NUMBER, "age", ""), (users[3], DELETE, "", "")),
        ])))
        assert [a.applied for a in acks] == [4, 2]
        before = {e: client.count(e) for e in ("spend_30d = -12.5", "age = 7", "gmv = 10.25",
                                               "last_order = 2027-01-02", "age >= 0", "huge < 0")}
        with pytest.raises(errors.InvalidArgumentError, match="mutation 0: value"):
            list(client.mutate(iter([_batch("kafka:n/0", 3, (users[0], SET_NUMBER, "spend_30d", "1.234"))])))
    assert before["spend_30d = -12.5"] >= 1 and before["gmv = 10.25"] == 1 and before["last_order = 2027-01-02"] >= 1
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait()
    assert server.proc.stdout is not None
    server.proc.stdout.close()
    for life in range(3):  # kill -9, then graceful restarts with a checkpoint in each life
        again = RunningServer(server.data_dir, "--checkpoint-seconds", "0")
        try:
            with Client(again.target) as client:
                assert {e: client.count(e) for e in before} == before, f"life {life}"
                assert client.get_offsets(["kafka:n/0"]) == {"kafka:n/0": 2}
                client.checkpoint()
        finally:
            again.stop()
    server.proc = again.proc  # the fixture stops the last one (already stopped)


def test_bench_style_queries_agree_with_duckdb(server: RunningServer, numeric: dict[str, Any]) -> None:
    """The benchmark's n1-n4 shapes over gRPC, checked against DuckDB over the same Parquet."""
    con = duckdb.connect()
    con.execute(f"CREATE VIEW u AS SELECT * FROM read_parquet('{numeric['parquet']}', file_row_number=true)")
    with Client(server.target) as client:
        n1 = client.count("spend_30d BETWEEN 100 AND 500 AND gender=F")
        assert n1 == con.execute("SELECT count(*) FROM u WHERE spend_30d BETWEEN 100 AND 500 AND gender='F'"
                                 ).fetchall()[0][0]
        n2 = client.aggregate("city=Shanghai", ["spend_30d"], statistics=["sum", "mean"]).fields[0]
        total, mean = con.execute("SELECT sum(spend_30d)::DECIMAL(18,2), avg(spend_30d) FROM u WHERE city='Shanghai'"
                                  ).fetchall()[0]
        assert n2.sum.exact == str(total) and n2.mean.value == pytest.approx(mean)
        n3 = client.aggregate("city=Shanghai", ["spend_30d"], percentiles=[50, 90, 99], statistics=["count"])
        expected = con.execute("SELECT quantile_disc(spend_30d, [0.5, 0.9, 0.99]) FROM u WHERE city='Shanghai'"
                               ).fetchall()[0][0]
        assert [float(p.value.exact) for p in n3.fields[0].percentiles] == pytest.approx(expected)
        n4 = next(client.export_pages("city=Shanghai", page_size=50, order_by="score", descending=True))
        ranked = con.execute("SELECT user_id FROM u WHERE city='Shanghai' ORDER BY score DESC NULLS LAST, "
                             "file_row_number LIMIT 50").fetchall()
        assert list(n4.user_ids) == [str(r[0]) for r in ranked]
