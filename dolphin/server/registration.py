"""Dolphin's per-method handler wrappers, applied once, when the services are registered, not by interceptors.

grpc.aio awaits every interceptor's `intercept_service` on every call, even when the handler it returns was built
once and cached. With the decode-errors and reads-first wrappers as interceptors, a q1 Count took 0.04-0.06 ms more
than with no interceptor (`python bench/grpc_floor.py`, bench/README.md issue 14 ninth pass). The generated
`add_*_to_server` functions register through a `WrappingRegistrar` instead, which wraps each method's handler once.
Auth stays an interceptor: it reads each call's metadata, covers reflection too, and is there only with tokens.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import grpc

from dolphin.server.decode_errors import decoded_in_handler
from dolphin.server.reads_first import marked_handler
from dolphin.stream.read_priority import ReadPriority

Wrap = Callable[[str, grpc.RpcMethodHandler], grpc.RpcMethodHandler]


def dolphin_wrap(reads: ReadPriority | None) -> Wrap:
    """Return the wrapper of every method: requests parsed in the handler, read calls marked (with a writer)."""

    def wrap(method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        handler = decoded_in_handler(method, handler)
        return handler if reads is None else marked_handler(method, handler, reads)

    return wrap


class _WrappedGeneric(grpc.GenericRpcHandler):
    """A generic handler whose handlers come wrapped, each built on its method's first call."""

    def __init__(self, inner: grpc.GenericRpcHandler, wrap: Wrap) -> None:
        self._inner = inner
        self._wrap = wrap
        self._handlers: dict[str, grpc.RpcMethodHandler] = {}

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        method = handler_call_details.method
        handler = self._handlers.get(method)
        if handler is None:
            found = self._inner.service(handler_call_details)
            if found is None:
                return None
            handler = self._handlers[method] = self._wrap(method, found)
        return handler


class WrappingRegistrar:
    """Stands in for the server in the generated `add_*_to_server` functions: registers every handler wrapped."""

    def __init__(self, server: grpc.aio.Server, wrap: Wrap) -> None:
        self._server = server
        self._wrap = wrap

    def add_generic_rpc_handlers(self, generic_rpc_handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        """Register generic handlers whose method handlers are wrapped."""
        self._server.add_generic_rpc_handlers([_WrappedGeneric(h, self._wrap) for h in generic_rpc_handlers])

    def add_registered_method_handlers(self, service_name: str,
                                       method_handlers: dict[str, grpc.RpcMethodHandler]) -> None:
        """Register pre-registered methods (they take precedence over generic handlers), wrapped."""
        self._server.add_registered_method_handlers(service_name, {
            name: self._wrap(f"/{service_name}/{name}", handler) for name, handler in method_handlers.items()})
