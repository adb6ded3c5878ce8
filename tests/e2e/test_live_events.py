"""Campaign events through the stream, against a real server over the ad world: funnels, lift, trend, retention and
event() terms see an acked event at once, caches stay right, the keep-days window drops and counts, DELETE_USER
takes events away, a kill -9 loses nothing, `dolphin stream` reads event rows, and bad events are refused."""

from __future__ import annotations

import datetime
import pathlib
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator

import grpc
import polars as pl
import pytest

from dolphin.client import Client
from dolphin.errors import InvalidArgumentError
from dolphin.sink import Sink
from dolphin.v1 import ingest_service_pb2 as pb
from tests.conftest import RunningServer
from tests.worlds import reach

pytestmark = pytest.mark.e2e
ADD_EVENT = pb.MUTATION_OP_ADD_EVENT
STAGES = ["impression", "click", "conversion"]


@pytest.fixture
def live(ad_world: dict[str, object], tmp_path: pathlib.Path) -> Iterator[RunningServer]:
    shutil.copytree(ad_world["data"], tmp_path / "data")  # type: ignore[arg-type]
    running = RunningServer(tmp_path / "data", "--checkpoint-seconds", "0", "--keep-days", "30")
    yield running
    running.stop()


def event_batch(source: str, offset: int, *rows: tuple[str, str, str, str]) -> pb.MutationBatch:
    return pb.MutationBatch(source=source, offset=offset, mutations=[
        pb.Mutation(user_id=u, op=ADD_EVENT, campaign=c, event=e, date=d) for u, c, e, d in rows])


class Truth:
    """The loaded events plus every streamed one, as a frame, with funnels computed from sets."""

    def __init__(self, events: pl.DataFrame) -> None:
        self.events = events.select("user_id", "campaign", "event", "date").with_columns(pl.col("user_id").cast(
            pl.String))

    def add(self, rows: list[tuple[str, str, str, str]]) -> None:
        more = pl.DataFrame(rows, schema=["user_id", "campaign", "event", "date"], orient="row").with_columns(
            pl.col("date").str.to_date())
        self.events = pl.concat([self.events, more])

    def delete(self, user: str) -> None:
        self.events = self.events.filter(pl.col("user_id") != user)

    def funnel(self, campaign: str, start: str, end: str) -> list[int]:
        current: set[str] | None = None
        out = []
        for event in STAGES:
            users = reach(self.events, campaign, event, start, end)
            current = users if current is None else current & users
            out.append(len(current))
        return out


def funnel_counts(client: Client, campaign: str, start: str, end: str) -> list[int]:
    return [s.count for s in client.funnel(campaign, STAGES, start, end).stages]


def test_an_acked_event_shows_in_every_ad_effect_query_at_once(live: RunningServer,
                                                                ad_world: dict[str, object]) -> None:
    truth = Truth(ad_world["events"])  # type: ignore[arg-type]
    users = sorted(set(ad_world["tags"]["user_id"].cast(pl.String).to_list()))  # type: ignore[index]
    with Client(live.target) as client:
        # warm the per-snapshot caches of date-range unions first: they must not serve stale unions afterwards
        assert funnel_counts(client, "c1", "2026-11-01", "2026-11-07") == truth.funnel("c1", "2026-11-01", "2026-11-07")
        click_term = "event(click, campaign=c1, from=2026-11-01, to=2026-11-10)"
        before = client.count(click_term)
        # users with no impression yet get all three events on one day: each is a new full funnel
        fresh = [u for u in users if u not in reach(truth.events, "c1", "impression", "2026-11-01", "2026-11-10")][:25]
        rows = [(u, "c1", e, "2026-11-05") for u in fresh for e in STAGES]
        acks = list(client.mutate(iter([event_batch("kafka:events/0", 1, *rows)])))
        assert (acks[0].applied, acks[0].dropped_events, acks[0].skipped) == (75, 0, False)
        truth.add(rows)
        counts = funnel_counts(client, "c1", "2026-11-01", "2026-11-07")  # read-your-writes after the ack
        assert counts == truth.funnel("c1", "2026-11-01", "2026-11-07")
        assert client.count(click_term) == before + len(fresh)
        trend = client.trend(["click"], "2026-11-04", "2026-11-06", campaign="c1")
        assert list(trend.series[0].counts) == [len(reach(truth.events, "c1", "click", d, d))
                                                for d in ("2026-11-04", "2026-11-05", "2026-11-06")]
        lift = client.lift("c1", "click", "conversion", "2026-11-01", "2026-11-10")
        clicked = reach(truth.events, "c1", "click", "2026-11-01", "2026-11-10")
        converted = reach(truth.events, "c1", "conversion", "2026-11-01", "2026-11-10")
        assert (lift.exposed, lift.exposed_outcome) == (len(clicked), len(clicked & converted))
        retention = client.retention("c1", "impression", "click", "2026-11-05", days=1)
        assert retention.rows[0].cohort == len(reach(truth.events, "c1", "impression", "2026-11-05", "2026-11-05"))

        # a new campaign, event and day appear in ListCampaigns at once, and exactly once by offset
        new = [(fresh[0], "spring", "impression", "2026-11-11"), (fresh[1], "spring", "signup", "2026-11-11")]
        client.mutate(iter([event_batch("kafka:events/0", 2, *new)])).__next__()
        again = list(client.mutate(iter([event_batch("kafka:events/0", 2, *new)])))
        assert again[0].skipped
        truth.add(new)
        campaigns = {c.name: {e.event: (e.first_day, e.last_day, e.days) for e in c.events}
                     for c in client.list_campaigns()}
        assert campaigns["spring"] == {"impression": ("2026-11-11", "2026-11-11", 1),
                                       "signup": ("2026-11-11", "2026-11-11", 1)}
        assert client.count("event(signup, campaign=spring, from=2026-11-11, to=2026-11-11)") == 1

        # DELETE_USER takes the user's events too
        client.mutate(iter([pb.MutationBatch(source="kafka:events/0", offset=3, mutations=[
            pb.Mutation(user_id=fresh[2], op=pb.MUTATION_OP_DELETE_USER)])])).__next__()
        truth.delete(fresh[2])
        assert funnel_counts(client, "c1", "2026-11-01", "2026-11-07") == truth.funnel("c1", "2026-11-01", "2026-11-07")

        # --keep-days 30 counts back from the newest day (2026-11-11): October 12 is out, and dropped
        late = list(client.mutate(iter([event_batch("kafka:events/1", 0, (fresh[3], "c1", "click", "2026-10-12"),
                                                     (fresh[3], "c1", "click", "2026-10-13"))])))
        assert (late[0].applied, late[0].dropped_events) == (1, 1)
        truth.add([(fresh[3], "c1", "click", "2026-10-13")])
        assert client.count("event(click, campaign=c1, from=2026-10-01, to=2026-10-31)") == 1
        want = truth.funnel("c1", "2026-11-01", "2026-11-10")
        assert funnel_counts(client, "c1", "2026-11-01", "2026-11-10") == want
    live.proc.send_signal(signal.SIGKILL)  # acked means durable: the log has it all
    live.proc.wait(timeout=30)
    again_server = RunningServer(live.data_dir, "--checkpoint-seconds", "0", "--keep-days", "30")
    try:
        with Client(again_server.target) as client:
            assert funnel_counts(client, "c1", "2026-11-01", "2026-11-10") == want
            assert client.count("event(signup, campaign=spring, from=2026-11-11, to=2026-11-11)") == 1
            assert client.get_offsets() == {"kafka:events/0": 3, "kafka:events/1": 0}
            client.checkpoint()
    finally:
        assert again_server.stop() == 0
    third = RunningServer(live.data_dir, "--checkpoint-seconds", "0", "--keep-days", "30")
    try:
        with Client(third.target) as client:  # from the checkpoint (its event overlay), nothing replayed
            assert funnel_counts(client, "c1", "2026-11-01", "2026-11-10") == want
            assert client.status().ingest.recovered_batches == 0
    finally:
        third.stop()


@pytest.mark.parametrize(("mutation", "message"), [
    (pb.Mutation(user_id="1", op=ADD_EVENT, event="click", date="2026-11-01"), "mutation 0: campaign is empty"),
    (pb.Mutation(user_id="1", op=ADD_EVENT, campaign="c1", date="2026-11-01"), "mutation 0: event is empty"),
    (pb.Mutation(user_id="1", op=ADD_EVENT, campaign="c1", event="click"), "mutation 0: date is empty"),
    (pb.Mutation(user_id="1", op=ADD_EVENT, campaign="c1", event="click", date="11/01/2026"),
     'mutation 0: date "11/01/2026" is not an ISO date'),
    (pb.Mutation(user_id="1", op=ADD_EVENT, campaign="c1", event="click",
                 date=(datetime.date.today() + datetime.timedelta(days=30)).isoformat()), "is in the future"),
])
def test_bad_events_are_invalid_argument_and_apply_nothing(live: RunningServer, mutation: pb.Mutation,
                                                           message: str) -> None:
    with Client(live.target) as client:
        before = funnel_counts(client, "c1", "2026-11-01", "2026-11-10")
        with pytest.raises(InvalidArgumentError, match=message):
            list(client.mutate(iter([pb.MutationBatch(source="s", offset=0, mutations=[mutation])])))
        assert funnel_counts(client, "c1", "2026-11-01", "2026-11-10") == before and client.get_offsets() == {}


def test_dolphin_stream_reads_event_rows(live: RunningServer, ad_world: dict[str, object],
                                         tmp_path: pathlib.Path) -> None:
    users = ad_world["tags"]["user_id"].cast(pl.String).to_list()[:300]  # type: ignore[index]
    rows = pl.DataFrame({"user_id": users, "campaign": "autumn", "event": ["view", "buy", "view"] * 100,
                         "date": [datetime.date(2026, 11, 1 + i % 3) for i in range(300)]})
    rows.write_parquet(tmp_path / "events.parquet")
    cmd = [sys.executable, "-m", "dolphin", "stream", str(tmp_path / "events.parquet"), "--target", live.target]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "streamed 300 of 300 mutations from 1 sources" in done.stdout
    with Client(live.target) as client:
        for event in ("view", "buy"):
            want = rows.filter(pl.col("event") == event)["user_id"].n_unique()
            assert client.count(f"event({event}, campaign=autumn, from=2026-11-01, to=2026-11-03)") == want
    (tmp_path / "bad.jsonl").write_text('{"user_id": "1", "campaign": "x", "event": "view", "date": "yesterday"}\n')
    bad = subprocess.run([*cmd[:4], str(tmp_path / "bad.jsonl"), *cmd[5:]], capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode != 0 and 'date "yesterday" is not an ISO date' in bad.stderr


def test_events_stream_into_a_grpc_channel_too(live: RunningServer) -> None:
    """The raw stub, as a Flink sink would use it: acks carry the sequence and the dropped count."""
    with grpc.insecure_channel(live.target) as channel:
        from dolphin.v1 import ingest_service_pb2_grpc as pb_grpc

        acks = list(pb_grpc.IngestServiceStub(channel).Mutate(iter([
            event_batch("flink/0", 5, ("1", "c2", "click", "2026-11-02")),
            event_batch("flink/0", 6, ("2", "c2", "click", "2026-09-01")),  # before the window: dropped
        ])))
        assert [(a.applied, a.dropped_events) for a in acks] == [(1, 0), (0, 1)]
        assert acks[1].sequence >= acks[0].sequence > 0


def test_a_sink_writes_events(live: RunningServer) -> None:
    with Client(live.target) as client, Sink(client, batch_size=50) as sink:
        for i in range(120):
            sink.write_event("sink/0", i, str(10_000 + i), "sinkcamp", "view", "2026-11-10")
        sink.flush()
        assert sink.stats.applied_mutations == 120
        assert client.count("event(view, campaign=sinkcamp, from=2026-11-10, to=2026-11-10)") == 120
