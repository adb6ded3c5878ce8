"""Campaign events streamed through a cluster front land on their users' shards and answer like one node that
took the same batches (only a new campaign, on users who exist: the other tests' answers do not move)."""

from __future__ import annotations

import pathlib
import shutil

import polars as pl

from dolphin.client import Client
from dolphin.stream import open_stream
from dolphin.stream.batches import Mutation, MutationBatch
from dolphin.stream.settings import IngestSettings
from dolphin.v1 import ingest_service_pb2 as pb
from tests.cluster.conftest import Front

STAGES = ["view", "cart", "buy"]


def batches_of(users: list[str]) -> list[list[Mutation]]:
    out = []
    for b in range(6):
        rows = []
        for i, user in enumerate(users[b * 40 : (b + 1) * 40]):
            day = f"2026-11-{1 + (i + b) % 4:02d}"
            rows += [Mutation.event(user, "live", stage, day) for stage in STAGES[: 1 + (i % 3)]]
        out.append(rows)
    return out


def wire(offset: int, rows: list[Mutation]) -> pb.MutationBatch:
    return pb.MutationBatch(source="live/0", offset=offset, mutations=[
        pb.Mutation(user_id=m.user_id, op=pb.MUTATION_OP_ADD_EVENT, campaign=m.dimension, event=m.value, date=m.date)
        for m in rows])


def test_streamed_events_through_the_front_equal_one_node(front: Front, ad_world: dict[str, object],
                                                          tmp_path: pathlib.Path) -> None:
    users = ad_world["tags"]["user_id"].cast(pl.String).to_list()[::7]  # type: ignore[index]
    batches = batches_of(users)
    shutil.copytree(ad_world["data"], tmp_path / "data")  # type: ignore[arg-type]
    single = open_stream(tmp_path / "data", IngestSettings(checkpoint_seconds=0.0))
    try:
        for offset, rows in enumerate(batches):
            single.submit(MutationBatch.of("live/0", offset, rows)).result()
        with Client(front.target) as client:
            acks = list(client.mutate(iter(wire(o, rows) for o, rows in enumerate(batches))))
            assert [a.applied for a in acks] == [len(rows) for rows in batches]
            engine = single.engine
            funnel = client.funnel("live", STAGES, "2026-11-01", "2026-11-04", audience_expression="gender=F")
            local = engine.funnel("live", STAGES, "2026-11-01", "2026-11-04", audience_expression="gender=F")
            assert [s.count for s in funnel.stages] == [s.count for s in local.stages] and local.stages[2].count
            trend = client.trend(["view", "buy"], "2026-11-01", "2026-11-04", campaign="live")
            series, _ = engine.trend("live", ["view", "buy"], "2026-11-01", "2026-11-04")
            assert [list(s.counts) for s in trend.series] == [list(s.counts) for s in series]
            listed = {c.name: {e.event: (e.first_day, e.last_day, e.days) for e in c.events}
                      for c in client.list_campaigns()}
            assert listed["live"] == {e: (days[0], days[-1], len(days))
                                      for e, days in engine.list_campaigns()["live"].items()}
            term = "event(cart, campaign=live, from=2026-11-02, to=2026-11-03) AND NOT gender=F"
            assert client.count(term) == engine.count(term).count
            again = list(client.mutate(iter([wire(2, batches[2])])))
            assert again[0].skipped and client.get_offsets(["live/0"]) == {"live/0": 5}
    finally:
        single.close(checkpoint=False)
