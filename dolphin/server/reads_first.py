"""Read calls marked in flight, so that the stream writer steps aside for them (stream/read_priority.py).

Every dolphin.v1 method is a read except those that wait for the writer themselves: IngestService (it feeds the
writer), AdminService (Reload and Checkpoint queue work on it) and a shard's PrepareVersion and ServeVersion
(they adopt a batch load through it). gRPC calls are marked by their handlers (`marked_handler`, applied when the
server registers its methods), HTTP calls by the routes (`marked`), around the same servicer methods. A streamed
reply counts as a read while its next message is being made, not while it waits for its reader.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

import grpc

from dolphin.stream.read_priority import ReadPriority

WAITS_FOR_WRITER = ("/dolphin.v1.IngestService/", "/dolphin.v1.AdminService/",
                    "/dolphin.v1.ShardService/PrepareVersion", "/dolphin.v1.ShardService/ServeVersion")


def is_read(method: str) -> bool:
    """Return whether a full method name (`/dolphin.v1.AudienceService/Count`) is a read call."""
    return method.startswith("/dolphin.v1.") and not method.startswith(WAITS_FOR_WRITER)


def marked_unary(call: Callable[[Any, Any], Awaitable[Any]], reads: ReadPriority
                 ) -> Callable[[Any, Any], Awaitable[Any]]:
    """Return a unary handler that counts as a read while it runs."""

    async def read(request: Any, context: Any) -> Any:
        with reads.reading():
            return await call(request, context)

    return read


def marked_stream(call: Callable[[Any, Any], AsyncGenerator[Any, None]], reads: ReadPriority
                  ) -> Callable[[Any, Any], AsyncGenerator[Any, None]]:
    """Return a server-streaming handler that counts as a read while it makes each message."""

    async def read(request: Any, context: Any) -> AsyncGenerator[Any, None]:
        messages = call(request, context)
        try:
            while True:
                with reads.reading():
                    try:
                        message = await anext(messages)
                    except StopAsyncIteration:
                        return
                yield message
        finally:  # a reader that leaves closes this one; the handler's own cleanup (its Export slot) runs now
            await messages.aclose()

    return read


def marked(call: Any, reads: ReadPriority, streaming: bool) -> Any:
    """Return a servicer method marked as a read (streaming: a server-streaming one)."""
    return marked_stream(call, reads) if streaming else marked_unary(call, reads)


def marked_handler(method: str, handler: grpc.RpcMethodHandler, reads: ReadPriority) -> grpc.RpcMethodHandler:
    """Return the handler of a full method name marked as a read when it is one (request streams never are)."""
    if not is_read(method) or handler.request_streaming:
        return handler
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(
            marked_unary(handler.unary_unary, reads), request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer)
    return grpc.unary_stream_rpc_method_handler(
        marked_stream(handler.unary_stream, reads), request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer)
