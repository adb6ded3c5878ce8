"""IngestService: the Mutate stream and GetOffsets, over the stream's Ingestor.

Backpressure is gRPC flow control: the server reads the next batch of a stream only while the bytes of
received, unacknowledged batches (over all streams) are under --max-pending-bytes, and each stream holds at
most ACK_WINDOW unacknowledged batches, so a producer that never reads its acks stops being read too.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import numpy as np

from dolphin.errors import InvalidArgumentError, PreconditionError
from dolphin.server.status import Context, maps_errors, maps_stream_errors
from dolphin.stream import Ack
from dolphin.stream.api import StreamApi
from dolphin.stream.batches import NO_OFFSET, MutationBatch, StringCodes
from dolphin.v1 import ingest_service_pb2 as pb
from dolphin.v1 import ingest_service_pb2_grpc as pb_grpc

ADD_EVENT = pb.MUTATION_OP_ADD_EVENT
ACK_WINDOW = 64  # unacknowledged batches per stream before the server stops reading it
INGEST_OFF = ("stream ingest is off in this process (it needs --workers 1: one process must own the write-ahead "
              "log); send mutations to a single-process server")


class ByteBudget:
    """Bytes of received, unapplied batches, shared by every stream; acquire waits while over the limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._freed = asyncio.Event()

    async def acquire(self, size: int) -> None:
        """Wait until size more bytes fit (a batch alone over the limit waits for an empty budget)."""
        while self.used and self.used + size > self.limit:
            self._freed.clear()
            await self._freed.wait()
        self.used += size

    def release(self, size: int) -> None:
        """Return bytes to the budget (on the event loop's thread)."""
        self.used -= size
        self._freed.set()


def ingestor_or_refuse(ingestor: StreamApi | None) -> StreamApi:
    """Return the process's ingestor, or refuse the call: this process does not own the log (--workers N > 1)."""
    if ingestor is None:
        raise PreconditionError(INGEST_OFF)
    return ingestor


def _checked_indexes(strings: np.ndarray, indexes: object, name: str, batch: str) -> np.ndarray:
    """Return a column's indexes into the string table, or InvalidArgumentError naming the first bad one."""
    picked = np.array(indexes, dtype=np.int64)
    bad = np.flatnonzero(picked >= len(strings))
    if len(bad):
        i = int(bad[0])
        raise InvalidArgumentError(f"batch {batch}: mutation {i}: {name} index {int(picked[i])} is past the "
                                   f"{len(strings)} strings of columns.strings")
    return picked


def _gathered(strings: np.ndarray, picked: np.ndarray) -> list[str]:
    out: list[str] = strings[picked].tolist()
    return out


def columns_of(message: pb.MutationBatch) -> MutationBatch:
    """Return the engine's batch of a wire batch sent as MutationColumns (gathered in C, no loop per row)."""
    c = message.columns
    where = f"{message.source}@{message.offset}"
    if c.user_ids and c.int_user_ids:
        raise InvalidArgumentError(f"batch {where}: columns hold both user_ids and int_user_ids; send one of them")
    int_ids = np.asarray(c.int_user_ids, dtype=np.int64) if c.int_user_ids else None
    count = len(c.user_ids) if int_ids is None else len(int_ids)
    lengths = {"ops": len(c.ops), "dimensions": len(c.dimensions), "values": len(c.values)}
    if c.dates:
        lengths["dates"] = len(c.dates)
    wrong = {name: n for name, n in lengths.items() if n != count}
    if wrong:
        raise InvalidArgumentError(f"batch {where}: columns hold {count} "
                                   f"{'user_ids' if int_ids is None else 'int_user_ids'} but " + ", ".join(
            f"{n} {name}" for name, n in wrong.items()) + "; every column needs one entry per mutation")
    table = list(c.strings) or [""]
    strings = np.array(table, dtype=object)
    dimensions = _checked_indexes(strings, c.dimensions, "dimension", where)
    values = _checked_indexes(strings, c.values, "value", where)
    return MutationBatch(
        source=message.source,
        offset=message.offset,
        ops=np.frombuffer(c.ops, dtype=np.uint8).astype(np.int64),
        user_ids=list(c.user_ids),
        dimensions=_gathered(strings, dimensions),
        values=_gathered(strings, values),
        first_offset=message.first_offset if message.HasField("first_offset") else NO_OFFSET,
        dates=_gathered(strings, _checked_indexes(strings, c.dates, "date", where)) if c.dates else None,
        int_ids=int_ids,
        codes=StringCodes(table, dimensions, values),
    )


def batch_of(message: pb.MutationBatch) -> MutationBatch:
    """Return the engine's columnar batch of a wire batch (ops stay raw so validation can name bad ones).

    An ADD_EVENT's campaign and event travel in the dimension and value columns (see stream.batches).
    """
    if message.HasField("columns"):
        if message.mutations:
            raise InvalidArgumentError(f"batch {message.source}@{message.offset}: send mutations or columns, "
                                       "not both")
        return columns_of(message)
    rows = [(m.user_id, m.op, m.dimension, m.value) if m.op != ADD_EVENT else (m.user_id, m.op, m.campaign, m.event)
            for m in message.mutations]  # one pass over the messages
    users, ops, dims, values = (list(column) for column in zip(*rows, strict=True)) if rows else ([], [], [], [])
    dates = [m.date for m in message.mutations] if ADD_EVENT in ops else None
    return MutationBatch(
        source=message.source,
        offset=message.offset,
        ops=np.array(ops, dtype=np.int64),
        user_ids=users,
        dimensions=dims,
        values=values,
        first_offset=message.first_offset if message.HasField("first_offset") else NO_OFFSET,
        dates=dates,
    )


def ack_message(ack: Ack) -> pb.MutationAck:
    """Return the wire ack."""
    return pb.MutationAck(source=ack.source, offset=ack.offset, applied=ack.applied, skipped=ack.skipped,
                          snapshot_version=ack.version, sequence=ack.sequence, dropped_events=ack.dropped_events)


class IngestServicer(pb_grpc.IngestServiceServicer):
    """Streams mutation batches into the write side and acks each once it is durable and visible."""

    SERVICE = pb.DESCRIPTOR.services_by_name["IngestService"].full_name

    def __init__(self, ingestor: StreamApi | None, max_pending_bytes: int,
                 publish_health: Callable[[], Awaitable[None]]) -> None:
        self.ingestor = ingestor
        self.budget = ByteBudget(max_pending_bytes)
        self.publish_health = publish_health
        self._published: tuple[bool, bool] = (False, False)

    def _ingestor(self) -> StreamApi:
        return ingestor_or_refuse(self.ingestor)

    async def _read(self, ingestor: StreamApi, messages: AsyncIterator[pb.MutationBatch],
                    acks: asyncio.Queue[asyncio.Future[Ack] | None]) -> None:
        loop = asyncio.get_running_loop()
        try:
            async for message in messages:
                size = message.ByteSize()
                await self.budget.acquire(size)
                try:
                    future = asyncio.wrap_future(ingestor.submit(batch_of(message)))
                except BaseException:
                    self.budget.release(size)
                    raise
                future.add_done_callback(self._releaser(size))
                await acks.put(future)
        except Exception as exc:  # noqa: BLE001 - handed to the answering side, which maps it to a status
            failed: asyncio.Future[Ack] = loop.create_future()
            failed.set_exception(exc)
            await acks.put(failed)
        await acks.put(None)

    def _releaser(self, size: int) -> Callable[[asyncio.Future[Ack]], None]:
        return lambda _future: self.budget.release(size)

    @maps_stream_errors
    async def Mutate(self, request: AsyncIterator[pb.MutationBatch], context: Context) -> AsyncIterator[
            pb.MutationAck]:
        ingestor = self._ingestor()
        acks: asyncio.Queue[asyncio.Future[Ack] | None] = asyncio.Queue(maxsize=ACK_WINDOW)
        reader = asyncio.create_task(self._read(ingestor, request, acks))
        try:
            while (future := await acks.get()) is not None:
                try:
                    ack = await future
                finally:
                    status = ingestor.status()
                    state = (status.storage_full, status.ready)
                    if state != self._published:  # ENOSPC came or went, or the first batch made data
                        self._published = state
                        await self.publish_health()
                yield ack_message(ack)
        finally:
            reader.cancel()

    @maps_errors
    async def GetOffsets(self, request: pb.GetOffsetsRequest, context: Context) -> pb.GetOffsetsResponse:
        offsets = self._ingestor().offsets()
        names = sorted(set(request.sources)) if request.sources else sorted(offsets)
        return pb.GetOffsetsResponse(offsets=[pb.SourceOffset(source=n, offset=offsets.get(n, -1)) for n in names])
