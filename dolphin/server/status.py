"""Dolphin errors as gRPC statuses (the table is dolphin.errors.STATUS_NAMES), and the decorators that apply it."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeAlias, TypeVar

import grpc

from dolphin import errors

log = logging.getLogger("dolphin.server")
ERROR_METADATA_KEY = "dolphin-error"
DETAILS_METADATA_KEY = "dolphin-error-details"  # the error's details() as ASCII JSON, when it has any
Context: TypeAlias = grpc.aio.ServicerContext[Any, Any]

ERROR_CODES: dict[type[errors.DolphinError], grpc.StatusCode] = {
    cls: grpc.StatusCode[name] for cls, name in errors.STATUS_NAMES.items()}


def status_code(exc: errors.DolphinError) -> grpc.StatusCode:
    """Return the status code of a Dolphin error (the nearest class in the table)."""
    for cls in type(exc).__mro__:
        if cls in ERROR_CODES:
            return ERROR_CODES[cls]
    return grpc.StatusCode.INTERNAL


def encodable(message: str) -> str:
    """Return message with anything UTF-8 cannot carry (lone surrogates) escaped: a status must always be sent."""
    return message.encode("utf-8", "backslashreplace").decode("utf-8")


async def abort_with(context: grpc.aio.ServicerContext[Any, Any], exc: BaseException) -> None:
    """Abort the call with the status of exc; unexpected errors are logged and become INTERNAL."""
    if isinstance(exc, errors.DolphinError):
        await context.abort(status_code(exc), encodable(str(exc)), trailing_metadata=error_metadata(exc))
    request_id = uuid.uuid4().hex[:12]
    log.error("internal error (request %s)", request_id, exc_info=exc)
    await context.abort(grpc.StatusCode.INTERNAL, f"internal error; the server log has request {request_id}")


def error_metadata(exc: errors.DolphinError) -> tuple[tuple[str, str], ...]:
    """Return the trailing metadata of an error: its class, and its details when it has any."""
    metadata: tuple[tuple[str, str], ...] = ((ERROR_METADATA_KEY, type(exc).__name__),)
    details = exc.details()
    if details:
        metadata += ((DETAILS_METADATA_KEY, json.dumps(details, ensure_ascii=True, sort_keys=True)),)
    return metadata


R = TypeVar("R")
Handler = Callable[..., Awaitable[R]]


def _code_of(exc: BaseException) -> grpc.StatusCode:
    if isinstance(exc, errors.DolphinError):
        return status_code(exc)
    if isinstance(exc, asyncio.CancelledError | GeneratorExit):  # GeneratorExit: a stream closed by its reader
        return grpc.StatusCode.CANCELLED
    return grpc.StatusCode.INTERNAL


def _observe(servicer: Any, name: str, code: grpc.StatusCode, started: float, request: Any, error: str) -> None:
    observer = getattr(servicer, "observer", None)
    if observer is not None:
        service = getattr(servicer, "SERVICE", type(servicer).__name__)
        observer.record(service, name, code, time.perf_counter() - started, request, error)


def maps_errors(method: Handler[R]) -> Handler[R]:
    """Wrap a unary handler so that every exception becomes the right status, and the call is observed."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> R:
        started = time.perf_counter()
        try:
            result = await method(self, request, context)
        except BaseException as exc:  # the single outermost handler
            if isinstance(exc, grpc.aio.AbortError):
                raise
            _observe(self, method.__name__, _code_of(exc), started, request, str(exc))
            if not isinstance(exc, Exception):
                raise
            await abort_with(context, exc)
            raise  # unreachable: abort raises
        _observe(self, method.__name__, grpc.StatusCode.OK, started, request, "")
        return result

    return wrapper


def maps_stream_errors(method: Callable[..., AsyncIterator[R]]) -> Callable[..., AsyncIterator[R]]:
    """Wrap a server-streaming handler; errors are mapped around each message (interceptors cannot)."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[R]:
        started = time.perf_counter()
        try:
            async for item in method(self, request, context):
                yield item
        except BaseException as exc:
            if isinstance(exc, grpc.aio.AbortError):
                raise
            _observe(self, method.__name__, _code_of(exc), started, request, str(exc))
            if not isinstance(exc, Exception):
                raise
            await abort_with(context, exc)
            return
        _observe(self, method.__name__, grpc.StatusCode.OK, started, request, "")

    return wrapper
