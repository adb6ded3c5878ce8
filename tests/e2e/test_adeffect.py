"""AdEffectService and ListCampaigns through the real server, the client, the CLI and grpcurl."""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
import sys

import pytest

from dolphin import errors
from dolphin.client import Client
from dolphin.engine import Engine
from tests.conftest import RunningServer
from tests.e2e.test_grpcurl import GRPCURL

pytestmark = pytest.mark.e2e


def test_ad_effect_over_grpc(ad_world: dict[str, object], ad_engine: Engine, tmp_path: pathlib.Path) -> None:
    shutil.copytree(ad_world["data"], tmp_path / "data")  # type: ignore[arg-type]
    server = RunningServer(tmp_path / "data")
    try:
        with Client(server.target) as client:
            funnel = client.funnel("c1", ["impression", "click", "conversion"], "2026-11-01", "2026-11-07",
                                   audience_expression="gender=F", breakdown_dimension="age_band", top_k=3)
            local = ad_engine.funnel("c1", ["impression", "click", "conversion"], "2026-11-01", "2026-11-07",
                                     audience_expression="gender=F", breakdown_dimension="age_band", top_k=3)
            assert [s.count for s in funnel.stages] == [s.count for s in local.stages]
            assert [(s.value, list(s.counts)) for s in funnel.segments] == [(s.value, s.counts) for s in local.segments]
            lift = client.lift("c1", "click", "conversion", "2026-11-01", "2026-11-10")
            assert lift.p_value < 1e-6 and lift.exposed_rate > lift.unexposed_rate
            retention = client.retention("c2", "impression", "click", "2026-11-01", days=2)
            assert len(retention.rows) == 1 and len(retention.rows[0].returned) == 2
            trend = client.trend(["impression"], "2026-11-01", "2026-11-03", campaign="c2")
            assert list(trend.series[0].days) == ["2026-11-01", "2026-11-02", "2026-11-03"]
            split = client.split("ALL", "ab", {"test": 0.5, "holdout": 0.5}, salt="x")
            assert sum(a.count for a in split.audiences) == client.count("ALL")
            campaigns = {c.name: {e.event: (e.first_day, e.last_day, e.days) for e in c.events}
                         for c in client.list_campaigns()}
            assert campaigns["c2"]["click"] == ("2026-11-01", "2026-11-10", 10)
            with pytest.raises(errors.NotFoundError, match='campaign "c9" not found'):
                client.funnel("c9", ["impression"], "2026-11-01")
            with pytest.raises(errors.InvalidArgumentError, match="reversed"):
                client.lift("c1", "click", "conversion", "2026-11-05", "2026-11-01")
        cli = subprocess.run([sys.executable, "-m", "dolphin", "query", "funnel", "--campaign", "c1", "--events",
                              "impression,click", "--from", "2026-11-01", "--to", "2026-11-07", "--target",
                              server.target], capture_output=True, text=True, timeout=60)
        assert cli.returncode == 0, cli.stderr
        plain = ad_engine.funnel("c1", ["impression", "click"], "2026-11-01", "2026-11-07")
        assert [int(s["count"]) for s in json.loads(cli.stdout)["stages"]] == [s.count for s in plain.stages]
        result = subprocess.run(
            [str(GRPCURL), "-plaintext", "-d",
             '{"campaign": "c1", "stages": ["impression"], "start_date": "2026-13-01"}',
             server.target, "dolphin.v1.AdEffectService/Funnel"], capture_output=True, text=True, timeout=60)
        assert result.returncode == 64 + 3 and "ISO date" in result.stderr
    finally:
        assert server.stop() == 0
