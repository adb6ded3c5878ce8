"""Which calls are reads for the stream writer, and when a marked handler counts as one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

import pytest
from google.protobuf import descriptor_pool

import dolphin.v1.admin_service_pb2
import dolphin.v1.audience_service_pb2
import dolphin.v1.ingest_service_pb2
import dolphin.v1.shard_service_pb2  # noqa: F401 - registers the services in the default pool
from dolphin.server.reads_first import is_read, marked_stream, marked_unary
from dolphin.stream.read_priority import ReadPriority
from tests.server.loop_thread import run_in_loop_thread

NOT_READS = {"/dolphin.v1.IngestService/Mutate", "/dolphin.v1.IngestService/GetOffsets",
             "/dolphin.v1.AdminService/Status", "/dolphin.v1.AdminService/Reload",
             "/dolphin.v1.AdminService/Checkpoint", "/dolphin.v1.ShardService/PrepareVersion",
             "/dolphin.v1.ShardService/ServeVersion"}


def test_reads_are_every_method_but_those_that_wait_for_the_writer() -> None:
    pool = descriptor_pool.Default()
    methods = {f"/{s}/{m.name}" for s in ("dolphin.v1.AudienceService", "dolphin.v1.AdminService",
                                          "dolphin.v1.IngestService", "dolphin.v1.ShardService")
               for m in pool.FindServiceByName(s).methods}
    assert {m for m in methods if not is_read(m)} == NOT_READS
    assert is_read("/dolphin.v1.AudienceService/Count") and is_read("/dolphin.v1.ShardService/ValueCounts")
    assert not is_read("/grpc.health.v1.Health/Check")


def test_a_unary_read_counts_while_it_runs() -> None:
    reads = ReadPriority()
    seen: list[bool] = []

    async def handler(request: Any, context: Any) -> str:
        seen.append(reads.busy)
        await asyncio.sleep(0)
        seen.append(reads.busy)
        if request == "fail":
            raise ValueError("boom")
        return "ok"

    call = marked_unary(handler, reads)
    assert run_in_loop_thread(call("x", None)) == "ok" and seen == [True, True] and not reads.busy
    with pytest.raises(ValueError):
        run_in_loop_thread(call("fail", None))
    assert not reads.busy


def test_a_stream_counts_while_it_makes_a_message_not_while_its_reader_waits() -> None:
    reads = ReadPriority()
    making: list[bool] = []
    closed: list[bool] = []

    async def handler(request: Any, context: Any) -> AsyncGenerator[int, None]:
        try:
            for i in range(5):
                making.append(reads.busy)
                yield i
        finally:
            closed.append(True)  # an Export releases its slot here

    async def read_two() -> list[bool]:
        stream = marked_stream(handler, reads)(None, None)
        between = []
        for _ in range(2):
            await anext(stream)
            between.append(reads.busy)
        await stream.aclose()  # the reader leaves early
        return between

    assert run_in_loop_thread(read_two()) == [False, False]
    assert making == [True, True] and closed == [True] and not reads.busy

    async def read_all() -> list[int]:
        return [i async for i in marked_stream(handler, reads)(None, None)]

    assert run_in_loop_thread(read_all()) == [0, 1, 2, 3, 4] and not reads.busy
