"""The privacy floor through the real server: small figures suppressed, small exports refused, saves flagged."""

from __future__ import annotations

import pathlib
import shutil

import pytest

from dolphin import errors
from dolphin.client import Client
from dolphin.engine import Engine
from dolphin.v1 import audience_service_pb2 as pb
from tests.conftest import RunningServer
from tests.worlds import reach

pytestmark = pytest.mark.e2e
K = 50


def test_floor(ad_world: dict[str, object], ad_engine: Engine, tmp_path: pathlib.Path) -> None:  # noqa: F811
    shutil.copytree(ad_world["data"], tmp_path / "data")  # type: ignore[arg-type]
    server = RunningServer(tmp_path / "data", "--min-reportable-count", str(K))
    small, large = "city=Tianjin AND gender=F", "gender=F"
    small_n, large_n = ad_engine.count(small).count, ad_engine.count(large).count
    assert 0 < small_n < K <= large_n
    try:
        with Client(server.target) as client:
            response = client.audiences.Count(pb.CountRequest(expression=small))
            assert (response.count, response.suppressed) == (0, True)
            assert client.count(large) == large_n
            batch = client.audiences.BatchCount(pb.BatchCountRequest(expressions=[small, large, "NOT ALL"]))
            assert list(batch.counts) == [0, large_n, 0] and list(batch.suppressed) == [True, False, False]
            profile = client.profile(large, dimensions=["city"], top_k=300)
            for value in profile.dimensions[0].values:
                assert value.suppressed == (value.count == 0)
                if value.suppressed:
                    assert value.tgi == 0 and value.share == 0
            assert any(v.suppressed for v in profile.dimensions[0].values)
            assert client.profile(small, dimensions=["city"]).audience_suppressed
            with pytest.raises(errors.PreconditionError, match="exports of smaller audiences are refused"):
                list(client.export(small))
            with pytest.raises(errors.PreconditionError, match="exports of smaller audiences are refused"):
                client.export_page(small)
            assert len(list(client.export(large))) == large_n
            saved = client.save_audience("tiny", small)
            assert saved.below_reportable and saved.count == 0
            overlap = client.overlap([small, large])
            assert list(overlap.suppressed) == [True, False] and overlap.intersections[0].suppressed
            funnel = client.funnel("c1", ["impression", "click", "conversion"], "2026-11-01", "2026-11-01",
                                   audience_expression="city=Hangzhou")
            events = ad_world["events"]
            hz = {u for u, c in zip(ad_world["tags"]["user_id"].to_list(),  # type: ignore[index]
                                    ad_world["tags"]["city"].to_list(), strict=True) if c == "Hangzhou"}  # type: ignore[index]
            first = reach(events, "c1", "impression", "2026-11-01", "2026-11-01") & {str(u) for u in hz}  # type: ignore[arg-type]
            assert funnel.stages[0].suppressed == (0 < len(first) < K)
            assert any(s.suppressed for s in funnel.stages)
    finally:
        assert server.stop() == 0
