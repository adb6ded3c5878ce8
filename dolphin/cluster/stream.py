"""ClusterStream: the write-side interface (`StreamApi`) over shards.

The front checks a whole batch first (the same validation a single node runs, so a bad batch changes no shard),
splits it by shard (`routing.split_batch`, every shard a part with the batch's source and offsets), and sends
each part on that shard's long-lived Mutate stream. The batch is acknowledged once every shard acknowledged its
part, i.e. made it durable and visible. If a shard fails, the batch fails with its error; parts other shards
applied are deduplicated by their stored offsets when the producer resends from GetOffsets, which is the lowest
offset over shards: exactly once, per shard.
"""

from __future__ import annotations

import collections
import concurrent.futures
import queue
import threading
import time
from collections.abc import Callable, Iterator

import grpc
import numpy as np

from dolphin.cluster.channels import ShardChannels, shard_error
from dolphin.cluster.routing import split_batch
from dolphin.errors import DolphinError, InvalidArgumentError, ShardUnavailableError
from dolphin.storage import DimensionKind
from dolphin.stream.batches import NO_OFFSET, MutationBatch, normalized, validated
from dolphin.stream.results import Ack, CheckpointResult, IngestStats, StreamStatus
from dolphin.v1 import admin_service_pb2 as admin_pb
from dolphin.v1 import ingest_service_pb2 as ing_pb

KindsOf = Callable[[], dict[str, DimensionKind]]


def part_message(part: MutationBatch) -> ing_pb.MutationBatch:
    """Return the wire batch of one shard's part, as MutationColumns (no message per mutation)."""
    strings: dict[str, int] = {"": 0}
    index = strings.setdefault
    columns = ing_pb.MutationColumns(
        user_ids=part.user_ids, int_user_ids=part.int_ids if part.int_ids is not None else [],
        ops=np.asarray(part.ops, dtype=np.uint8).tobytes(),
        dimensions=[index(d, len(strings)) for d in part.dimensions],
        values=[index(v, len(strings)) for v in part.values],
        dates=[index(d, len(strings)) for d in part.dates] if part.dates is not None else [])
    columns.strings.extend(strings)
    message = ing_pb.MutationBatch(source=part.source, offset=part.offset, columns=columns)
    if part.first_offset != NO_OFFSET:
        message.first_offset = part.first_offset
    return message


class ShardStream:
    """One Mutate stream to one shard: parts go out in order and their acks come back in that order."""

    def __init__(self, channels: ShardChannels, shard: int) -> None:
        self.channels = channels
        self.shard = shard
        self._lock = threading.Lock()
        self._requests: queue.Queue[ing_pb.MutationBatch | None] | None = None
        self._pending: collections.deque[concurrent.futures.Future[ing_pb.MutationAck]] = collections.deque()

    def send(self, message: ing_pb.MutationBatch) -> concurrent.futures.Future[ing_pb.MutationAck]:
        """Queue a part; the future resolves with the shard's ack or its error."""
        future: concurrent.futures.Future[ing_pb.MutationAck] = concurrent.futures.Future()
        with self._lock:
            if self._requests is None:
                self._open()
            assert self._requests is not None
            self._pending.append(future)
            self._requests.put(message)
        return future

    def _open(self) -> None:
        requests: queue.Queue[ing_pb.MutationBatch | None] = queue.Queue()

        def messages() -> Iterator[ing_pb.MutationBatch]:
            while (message := requests.get()) is not None:
                yield message

        call = self.channels.stubs(self.shard).ingest.Mutate(messages())
        self._requests = requests
        threading.Thread(target=self._read, args=(call, requests), name=f"dolphin-shard-{self.shard}-acks",
                         daemon=True).start()

    def _read(self, call: Iterator[ing_pb.MutationAck], requests: queue.Queue[ing_pb.MutationBatch | None]) -> None:
        error: DolphinError = ShardUnavailableError(self.shard, "its ingest stream ended")
        try:
            for ack in call:
                with self._lock:
                    future = self._pending.popleft()
                future.set_result(ack)
        except grpc.RpcError as exc:
            error = shard_error(self.shard, exc, 0.0)
        finally:
            with self._lock:  # the stream is gone: what it had not acked fails, and the next part reopens it
                failed, self._pending = list(self._pending), collections.deque()
                if self._requests is requests:
                    self._requests = None
            requests.put(None)
            for future in failed:
                future.set_exception(error)

    def close(self) -> None:
        """End the stream (parts not yet acked fail)."""
        with self._lock:
            if self._requests is not None:
                self._requests.put(None)
                self._requests = None


class _Batch:
    """One batch waiting for every shard's ack of its part."""

    def __init__(self, source: str, offset: int, parts: int) -> None:
        self.future: concurrent.futures.Future[Ack] = concurrent.futures.Future()
        self.source = source
        self.offset = offset
        self.left = parts
        self.acks: list[ing_pb.MutationAck] = []
        self.error: BaseException | None = None
        self.lock = threading.Lock()

    def done(self, part: concurrent.futures.Future[ing_pb.MutationAck]) -> None:
        with self.lock:
            exc = part.exception()
            if exc is not None:
                self.error = self.error or exc
            else:
                self.acks.append(part.result())
            self.left -= 1
            if self.left:
                return
        if self.error is not None:
            self.future.set_exception(self.error)
            return
        self.future.set_result(Ack(
            self.source, self.offset, sum(a.applied for a in self.acks), all(a.skipped for a in self.acks),
            max(a.sequence for a in self.acks), min(a.snapshot_version for a in self.acks),
            sum(a.dropped_events for a in self.acks)))


class ClusterStream:
    """StreamApi over shards: batches checked, split, sent to every shard, acked when all are durable."""

    def __init__(self, channels: ShardChannels, id_type: str, kinds: KindsOf, max_batch_mutations: int,
                 fsync: str, new_names: Callable[[], None] = lambda: None) -> None:
        """kinds() returns the dimensions the shards hold; new_names() is called once a batch that created
        one is acked (so the front's name checks see it at once: read-your-writes)."""
        self.channels = channels
        self.id_type = id_type
        self.kinds = kinds
        self.new_names = new_names
        self.max_batch_mutations = max_batch_mutations
        self.fsync = fsync
        self.stats = IngestStats()
        self._streams = [ShardStream(channels, k) for k in range(channels.count)]

    @property
    def accepting(self) -> bool:
        """True: each shard reports its own log's health; a batch a shard refuses fails with its error."""
        return True

    def submit(self, batch: MutationBatch) -> concurrent.futures.Future[Ack]:
        """Check the batch, send every shard its part; the future resolves once all shards acked."""
        batch = normalized(batch)
        kinds = self.kinds()
        validated(batch, kinds, self.max_batch_mutations, int_ids=self.id_type == "int64")
        # events may bring a campaign, an event or a day the front's names lack; forgetting them is cheap (the
        # next name check or listing re-reads them)
        creates = batch.dates is not None or bool(set(batch.dimensions) - kinds.keys() - {""})
        try:
            parts = split_batch(batch, self.id_type, self.channels.count)
        except ValueError as exc:
            raise InvalidArgumentError(f"batch {batch.source}@{batch.offset}: {exc}") from None
        waiting = _Batch(batch.source, batch.offset, len(parts))
        for stream, part in zip(self._streams, parts, strict=True):
            stream.send(part_message(part)).add_done_callback(waiting.done)
        waiting.future.add_done_callback(lambda f: self._count(batch, f, creates))
        return waiting.future

    def _count(self, batch: MutationBatch, future: concurrent.futures.Future[Ack], creates: bool) -> None:
        if future.exception() is not None:
            self.stats.rejected += 1
            return
        if creates:
            self.new_names()
        ack = future.result()
        self.stats.batches += 1
        self.stats.skipped += int(ack.skipped)
        self.stats.mutations += ack.applied
        self.stats.dropped_events += ack.dropped_events
        self.stats.last_applied_at = time.time()

    def offsets(self) -> dict[str, int]:
        """Return source -> the lowest offset any shard applied (where a producer resumes)."""
        answers = self.channels.fan_out(lambda s: s.ingest.GetOffsets, ing_pb.GetOffsetsRequest())
        sources = {o.source for a in answers for o in a.offsets}
        per_shard = [{o.source: o.offset for o in a.offsets} for a in answers]
        return {s: min(shard.get(s, -1) for shard in per_shard) for s in sorted(sources)}

    def checkpoint(self) -> CheckpointResult:
        """Checkpoint every shard at once."""
        started = time.perf_counter()
        answers = self.channels.fan_out(lambda s: s.admin.Checkpoint, admin_pb.CheckpointRequest())
        return CheckpointResult(min(a.snapshot_version for a in answers), sum(a.wal_position for a in answers),
                                all(a.incremental for a in answers), sum(a.changed_tags for a in answers),
                                max(a.pause_seconds for a in answers), time.perf_counter() - started, [])

    def status(self) -> StreamStatus:
        """The front's counters, with the shards' log positions added up."""
        try:
            answers = self.channels.fan_out(lambda s: s.admin.Status, admin_pb.StatusRequest())
        except DolphinError:
            answers = []
        ingest = [a.ingest for a in answers]
        return StreamStatus(
            self.fsync, bool(answers) and all(a.snapshot_version > 0 for a in answers),
            sum(i.sequence for i in ingest), sum(i.wal_position for i in ingest),
            max((i.sources for i in ingest), default=0), any(i.storage_full for i in ingest),
            IngestStats(self.stats.batches, self.stats.mutations, self.stats.skipped, self.stats.rejected,
                        self.stats.dropped_events, self.stats.last_applied_at), None,
            min((i.last_checkpoint_version for i in ingest), default=0))

    def close(self) -> None:
        """End every shard stream."""
        for stream in self._streams:
            stream.close()
