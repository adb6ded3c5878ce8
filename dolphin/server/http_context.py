"""What a servicer asks of its grpc.aio context, answered for a call that came in over HTTP.

The servicers use three things of a context: `abort` (through status.abort_with), `time_remaining` (the
engine deadline) and `invocation_metadata` (role checks inside a call). An HTTP call gets the same three, so
the servicer code runs unchanged, and an abort becomes an HttpAbort that the HTTP API turns into its reply.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import NoReturn

import grpc

from dolphin.errors import InvalidArgumentError
from dolphin.server.status import DETAILS_METADATA_KEY, ERROR_METADATA_KEY

# google.rpc.Code to HTTP, as google/rpc/code.proto documents it (and grpc-gateway and Envoy apply it).
HTTP_STATUS: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
}
TIMEOUT_UNITS = {"H": 3600.0, "M": 60.0, "S": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}
Metadata = tuple[tuple[str, str], ...]


class HttpAbort(grpc.aio.AbortError):
    """A call ended with a status: what context.abort raises for an HTTP call."""

    def __init__(self, code: grpc.StatusCode, message: str, error_class: str = "",
                 details: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.error_class = error_class
        self.details = details or {}

    def body(self) -> dict[str, object]:
        """Return the JSON error body: google.rpc.Status's code and message, with the status name, the class and
        the error's details (e.g. `position`)."""
        body: dict[str, object] = {"code": self.code.value[0], "status": self.code.name, "message": self.message}
        if self.error_class:
            body["errorClass"] = self.error_class
        if self.details:
            body["details"] = self.details
        return body

    @property
    def http_status(self) -> int:
        """Return the HTTP status code of this status."""
        return HTTP_STATUS[self.code]


def seconds_of_timeout(header: str) -> float:
    """Return the seconds of a `grpc-timeout` header (`<digits><unit>`, units H M S m u n), as gRPC reads it."""
    digits, unit = header[:-1], header[-1:]
    if not (digits.isdigit() and len(digits) <= 8 and unit in TIMEOUT_UNITS):
        raise InvalidArgumentError(f"grpc-timeout header {header!r} is not <up to 8 digits><H|M|S|m|u|n>, "
                                   "for example 500m for half a second")
    return int(digits) * TIMEOUT_UNITS[unit]


class HttpContext:
    """The context of one HTTP call: its headers as gRPC metadata, its deadline, and abort."""

    def __init__(self, metadata: Metadata, timeout_seconds: float | None, peer: str) -> None:
        self._metadata = metadata
        self._deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
        self._peer = peer

    async def abort(self, code: grpc.StatusCode, details: str = "",
                    trailing_metadata: Sequence[tuple[str, str]] = ()) -> NoReturn:
        """End the call with a status (raises HttpAbort, as grpc.aio raises AbortError)."""
        trailers = dict(trailing_metadata)
        details_json = trailers.get(DETAILS_METADATA_KEY)
        raise HttpAbort(code, details, trailers.get(ERROR_METADATA_KEY, ""),
                        json.loads(details_json) if details_json else None)

    def time_remaining(self) -> float | None:
        """Return the seconds left before the client's deadline, or None when it sent none."""
        return None if self._deadline is None else max(0.0, self._deadline - time.monotonic())

    def invocation_metadata(self) -> Metadata:
        """Return the request's headers as gRPC metadata: lower-case names."""
        return self._metadata

    def peer(self) -> str:
        """Return the client's address, as `ipv4:host:port` like gRPC."""
        return self._peer
