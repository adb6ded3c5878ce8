"""dolphin.sink: an asynchronous, exactly-once batching sink for stream producers (the shape of an async Flink sink).

    with Sink(Client("localhost:50051")) as sink:
        resume = sink.offsets(["kafka:user-tags/3"])["kafka:user-tags/3"]   # -1: start from the beginning
        for offset, change in source_records_after(resume):
            sink.write("kafka:user-tags/3", offset, change.user_id, MUTATION_OP_SET, "city", change.city)
        sink.write_event("kafka:ad-events/0", 7, "u1", "spring_sale", "click", "2026-11-01")  # a campaign event
        sink.flush()                                                       # every write is acknowledged

`write` buffers a mutation into its source's open batch; a batch is sent when it holds `batch_size` mutations
or is `linger_seconds` old. At most `max_in_flight` batches are sent and not yet acknowledged: beyond that
`write` blocks, so a slow server slows the producer instead of growing its memory. On UNAVAILABLE (a
restart, a network blip) or a full data dir, the sink reconnects with exponential backoff, asks GetOffsets
where each source stands, drops the batches the server already applied and resends the rest in order; the
server skips anything at or below a source's stored offset, so nothing is applied twice. A batch the
server rejects (INVALID_ARGUMENT, too large) is not retried: the error is raised by the next write or flush.

Imports only grpc, the generated stubs, dolphin.errors and dolphin.client.
"""

from __future__ import annotations

import collections
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from dolphin import errors
from dolphin.client import Client, ServerError
from dolphin.v1 import ingest_service_pb2 as pb

OPS = {"add": pb.MUTATION_OP_ADD, "remove": pb.MUTATION_OP_REMOVE, "set": pb.MUTATION_OP_SET,
       "delete_user": pb.MUTATION_OP_DELETE_USER, "set_number": pb.MUTATION_OP_SET_NUMBER,
       "clear_number": pb.MUTATION_OP_CLEAR_NUMBER, "add_event": pb.MUTATION_OP_ADD_EVENT}
# a restart or a network blip (UNAVAILABLE, CANCELLED, ... arrive as ServerError), no snapshot yet, a deadline,
# or a full data dir: worth resending after a pause
RETRYABLE = (ServerError, errors.NotReadyError, errors.DeadlineError, errors.StorageFullError)
_END = None


@dataclass(slots=True)
class SinkStats:
    """What the sink has seen acknowledged."""

    acked_batches: int = 0
    skipped_batches: int = 0  # acked as already applied (a replay after a reconnect)
    applied_mutations: int = 0
    dropped_events: int = 0  # events the server dropped as older than its --keep-days window
    reconnects: int = 0
    resumed_batches: int = 0  # dropped after a reconnect because GetOffsets showed them applied
    history: list[tuple[str, int, str]] = field(default_factory=list)  # (source, offset, ok|skipped|resumed)


@dataclass(slots=True)
class _Open:
    """A source's batch being filled, as the columns of MutationColumns (no message per mutation)."""

    user_ids: list[str] = field(default_factory=list)
    ops: bytearray = field(default_factory=bytearray)
    dimensions: list[int] = field(default_factory=list)
    values: list[int] = field(default_factory=list)
    dates: list[int] = field(default_factory=list)
    strings: dict[str, int] = field(default_factory=lambda: {"": 0})
    first_offset: int = -1
    last_offset: int = -1
    opened_at: float = 0.0

    def __len__(self) -> int:
        return len(self.user_ids)

    def add(self, user_id: str, op: int, dimension: str, value: str, date: str) -> None:
        strings = self.strings
        self.user_ids.append(user_id)
        self.ops.append(op)
        self.dimensions.append(strings.setdefault(dimension, len(strings)))
        self.values.append(strings.setdefault(value, len(strings)))
        if date and not self.dates and len(self.user_ids) > 1:
            self.dates = [0] * (len(self.user_ids) - 1)  # the first event of the batch: earlier rows have none
        if date or self.dates:
            self.dates.append(strings.setdefault(date, len(strings)))

    def columns(self) -> pb.MutationColumns:
        return pb.MutationColumns(user_ids=self.user_ids, ops=bytes(self.ops), dimensions=self.dimensions,
                                  values=self.values, dates=self.dates, strings=list(self.strings))


class Sink:
    """Batches, sends and retries mutations over one Mutate stream; thread-safe."""

    def __init__(self, client: Client, *, batch_size: int = 5000, linger_seconds: float = 0.05,
                 max_in_flight: int = 16, max_backoff_seconds: float = 5.0, keep_history: bool = False) -> None:
        if batch_size < 1 or max_in_flight < 1:
            raise ValueError("batch_size and max_in_flight must be at least 1")
        self.client = client
        self.batch_size = batch_size
        self.linger_seconds = linger_seconds
        self.max_in_flight = max_in_flight
        self.max_backoff_seconds = max_backoff_seconds
        self.keep_history = keep_history
        self.stats = SinkStats()
        self._cond = threading.Condition()
        self._open: dict[str, _Open] = {}
        self._last_offset: dict[str, int] = {}
        self._unacked: collections.deque[pb.MutationBatch] = collections.deque()
        self._outbox: queue.SimpleQueue[pb.MutationBatch | None] = queue.SimpleQueue()
        self._error: errors.DolphinError | None = None
        self._closed = False
        self._sender = threading.Thread(target=self._run, name="dolphin-sink", daemon=True)
        self._sender.start()
        self._linger = threading.Thread(target=self._linger_loop, name="dolphin-sink-linger", daemon=True)
        self._linger.start()

    def __enter__(self) -> Sink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- producer API -------------------------------------------------------------
    def offsets(self, sources: list[str] | None = None) -> dict[str, int]:
        """Return where each source stands on the server (-1: never seen); resume after these offsets."""
        return self.client.get_offsets(sources)

    def write(self, source: str, offset: int, user_id: str, op: int, dimension: str = "", value: str = "") -> None:
        """Buffer one mutation at a source offset (offsets must increase per source); may block (backpressure)."""
        self._buffer(source, offset, user_id, op, dimension, value, "")

    def write_event(self, source: str, offset: int, user_id: str, campaign: str, event: str, date: str) -> None:
        """Buffer one campaign event (an ISO date such as 2026-11-01) at a source offset, like write."""
        self._buffer(source, offset, user_id, pb.MUTATION_OP_ADD_EVENT, campaign, event, date)

    def _buffer(self, source: str, offset: int, user_id: str, op: int, dimension: str, value: str, date: str
                ) -> None:
        if not 0 <= op <= 255:
            raise ValueError(f"op {op} is not a MutationOp")
        with self._cond:
            self._raise_if_failed()
            last = self._last_offset.get(source, -1)
            if offset <= last:
                raise ValueError(f"source {source}: offset {offset} is not after the previous write's {last}")
            self._last_offset[source] = offset
            batch = self._open.get(source)
            if batch is None:
                batch = self._open[source] = _Open(first_offset=offset, opened_at=time.monotonic())
            batch.add(user_id, op, dimension, value, date)
            batch.last_offset = offset
            if len(batch) >= self.batch_size:
                self._seal(source)

    def flush(self, timeout: float | None = None) -> None:
        """Send every open batch and return once all are acknowledged; raises the sink's error if any."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            for source in list(self._open):
                self._seal(source)
            while self._unacked and self._error is None:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise errors.DeadlineError("sink flush", timeout or 0.0)
                self._cond.wait(remaining)
            self._raise_if_failed()

    def close(self) -> None:
        """Flush, then end the stream."""
        try:
            if self._error is None:
                self.flush()
        finally:
            with self._cond:
                self._closed = True
                self._cond.notify_all()
            self._outbox.put(_END)
            self._sender.join(timeout=10)

    # -- internals ------------------------------------------------------------------
    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error

    def _seal(self, source: str) -> None:
        """Queue a source's open batch for sending (caller holds the lock); waits while the window is full."""
        batch = self._open.pop(source)
        message = pb.MutationBatch(source=source, offset=batch.last_offset, first_offset=batch.first_offset,
                                   columns=batch.columns())
        while len(self._unacked) >= self.max_in_flight and self._error is None and not self._closed:
            self._cond.wait()
        self._raise_if_failed()
        self._unacked.append(message)
        self._outbox.put(message)

    def _linger_loop(self) -> None:
        while True:
            time.sleep(self.linger_seconds)
            with self._cond:
                if self._closed:
                    return
                now = time.monotonic()
                for source, batch in list(self._open.items()):
                    if now - batch.opened_at >= self.linger_seconds and self._error is None:
                        self._seal(source)

    def _requests(self, outbox: queue.SimpleQueue[pb.MutationBatch | None]) -> Iterator[pb.MutationBatch]:
        while (message := outbox.get()) is not _END:
            assert message is not None
            yield message

    def _resume(self) -> queue.SimpleQueue[pb.MutationBatch | None]:
        """After a (re)connect: drop batches the server already applied; queue the rest again, in order."""
        sources = sorted({b.source for b in self._unacked})
        stored = self.client.get_offsets(sources) if sources else {}
        with self._cond:
            kept: collections.deque[pb.MutationBatch] = collections.deque()
            for b in self._unacked:
                if b.offset > stored.get(b.source, -1):
                    kept.append(b)
                else:
                    self.stats.resumed_batches += 1
                    self._record(b.source, b.offset, "resumed")
            self._unacked = kept
            self._outbox = queue.SimpleQueue()
            for message in self._unacked:
                self._outbox.put(message)
            self._cond.notify_all()
            return self._outbox

    def _record(self, source: str, offset: int, status: str) -> None:
        if self.keep_history:
            self.stats.history.append((source, offset, status))

    def _acked(self, ack: pb.MutationAck) -> None:
        with self._cond:
            head = self._unacked.popleft()
            if (head.source, head.offset) != (ack.source, ack.offset):
                self._error = errors.DolphinError(f"sink: ack for {ack.source}@{ack.offset} does not match the "
                                                  f"oldest batch in flight {head.source}@{head.offset}")
            self.stats.acked_batches += 1
            self.stats.skipped_batches += ack.skipped
            self.stats.applied_mutations += ack.applied
            self.stats.dropped_events += ack.dropped_events
            self._record(ack.source, ack.offset, "skipped" if ack.skipped else "ok")
            self._cond.notify_all()

    def _run(self) -> None:
        backoff = 0.05
        while True:
            with self._cond:
                if self._closed and not self._unacked:
                    return
            try:
                outbox = self._resume()
                for ack in self.client.mutate(self._requests(outbox)):
                    self._acked(ack)
                    backoff = 0.05
                with self._cond:
                    if self._closed and not self._unacked:
                        return
            except errors.DolphinError as exc:
                if not isinstance(exc, RETRYABLE):  # the batch itself is wrong: resending cannot help
                    with self._cond:
                        self._error = exc
                        self._cond.notify_all()
                    return
            with self._cond:
                self._outbox.put(_END)  # ends the old stream's request iterator
                if self._closed and not self._unacked:
                    return
                self.stats.reconnects += 1
            time.sleep(backoff)
            backoff = min(self.max_backoff_seconds, backoff * 2)
