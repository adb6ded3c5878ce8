"""The HTTP/JSON API: every unary RPC as `POST /v1/<service>/<Method>`, transcoded onto the same servicers.

In the style of grpc-gateway and Envoy's transcoder, with the proto3 JSON mapping (`google.protobuf.json_format`):
a request body is the request message in JSON (empty means the empty message), a reply is the response message
with every field printed, in lowerCamelCase, 64-bit integers as strings. The servicer methods that gRPC calls are
called here, so limits, the privacy floor, metrics and slow-call logs are the same; tokens and roles go through
auth.rejection, the check behind the gRPC interceptor.

- Errors: the HTTP status of the gRPC code (http_context.HTTP_STATUS) and a body
  `{"code", "status", "message", "errorClass"}`; the class is also in the `dolphin-error` header.
- Server-streaming Export: newline-delimited JSON, one `{"result": page}` per line; an error after the first
  page is a last line `{"error": {...}}`, as grpc-gateway writes it.
- A client deadline is the `grpc-timeout` header (e.g. `500m`), as grpc-gateway reads it.
- `GET /v1/openapi.json` describes it all, generated from the proto descriptors (openapi.py).
- `GET /` is the web console (console_files.py): static files that call this same API from the browser.
"""

from __future__ import annotations

import json
import logging
import ssl
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from aiohttp import web
from google.protobuf import descriptor_pool, json_format, message_factory
from google.protobuf.message import Message

from dolphin.errors import DolphinError
from dolphin.server import openapi
from dolphin.server.auth import TokenStore, rejection
from dolphin.server.console_files import SECURITY_HEADERS, console_files
from dolphin.server.http_context import HttpAbort, HttpContext, Metadata, seconds_of_timeout
from dolphin.server.reads_first import is_read, marked
from dolphin.server.status import ERROR_METADATA_KEY, encodable, status_code
from dolphin.stream.read_priority import ReadPriority

log = logging.getLogger("dolphin.server")
NDJSON = "application/x-ndjson"
JSON_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store",
                "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'"}
# A JSON body is larger than its protobuf; the protobuf size is then held to max_message_bytes, as gRPC does.
JSON_SIZE_FACTOR = 8
# Health's Watch is an endless stream of status changes and grpcio-health-checking does not implement List:
# over HTTP, health is Check alone.
GRPC_ONLY = frozenset({"/grpc.health.v1.Health/Watch", "/grpc.health.v1.Health/List"})


@dataclass(frozen=True)
class Route:
    """One RPC reachable over HTTP."""

    path: str  # the gRPC method name, `/dolphin.v1.AudienceService/Count`
    request_class: type[Message]
    response_class: type[Message]
    call: Callable[[Any, Any], Any]  # the servicer's bound method
    streaming: bool


def routes_of(services: Sequence[tuple[str, object]], reads: ReadPriority | None = None) -> dict[str, Route]:
    """Return the routes of every unary-request method of these (full service name, servicer) pairs; with reads,
    read calls are marked for the stream writer (reads_first.py), as gRPC's are."""
    pool = descriptor_pool.Default()
    routes = {}
    for name, servicer in services:
        for method in pool.FindServiceByName(name).methods:
            if method.client_streaming:
                continue  # Mutate stays gRPC: a stream of batches with flow control has no JSON twin
            path = f"/{name}/{method.name}"
            if path in GRPC_ONLY:
                continue
            call = getattr(servicer, method.name)
            if reads is not None and is_read(path):
                call = marked(call, reads, method.server_streaming)
            routes[path] = Route(path, message_factory.GetMessageClass(method.input_type),
                                 message_factory.GetMessageClass(method.output_type), call, method.server_streaming)
    return routes


def json_of(message: Message) -> dict[str, Any]:
    """Return a message in the proto3 JSON mapping, with fields at their defaults printed too."""
    return json_format.MessageToDict(message, always_print_fields_with_no_presence=True)


def error_response(abort: HttpAbort) -> web.Response:
    """Return the HTTP reply of a failed call."""
    headers = dict(JSON_HEADERS)
    if abort.error_class:
        headers[ERROR_METADATA_KEY] = abort.error_class
    return web.json_response(abort.body(), status=abort.http_status, headers=headers)


def _invalid(message: str) -> HttpAbort:
    return HttpAbort(grpc.StatusCode.INVALID_ARGUMENT, message, "InvalidArgumentError")


class HttpApi:
    """The aiohttp application of the API, bound to one server's servicers."""

    def __init__(self, services: Sequence[tuple[str, object]], tokens: TokenStore | None,
                 max_message_bytes: int, reads: ReadPriority | None = None) -> None:
        self.routes = routes_of(services, reads)
        self.tokens = tokens
        self.max_message_bytes = max_message_bytes
        self.document = json.dumps(openapi.document(list(self.routes), secured=tokens is not None))
        self.app = web.Application(client_max_size=JSON_SIZE_FACTOR * max_message_bytes,
                                   middlewares=[self._unexpected_errors])
        self.app.router.add_get("/v1/openapi.json", self._openapi)
        self.files = console_files()
        for path in self.files:
            self.app.router.add_get(path, self._static)
        self.app.router.add_route("*", "/v1/{service}/{method}", self._call)
        self.runner: web.AppRunner | None = None

    async def start(self, host: str, port: int, ssl_context: ssl.SSLContext | None) -> int:
        """Listen on host:port (0 picks one); returns the port."""
        self.runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self.runner.setup()
        site = web.TCPSite(self.runner, host, port, ssl_context=ssl_context, reuse_address=True)
        await site.start()
        return int(self.runner.addresses[0][1])

    async def stop(self) -> None:
        """Stop listening and finish the calls in flight."""
        if self.runner is not None:
            await self.runner.cleanup()

    @web.middleware
    async def _unexpected_errors(self, request: web.Request,
                                 handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        """Every reply is JSON, even aiohttp's own (404, 405, 413) and a bug's."""
        try:
            return await handler(request)
        except web.HTTPException as exc:
            code, message = self._http_error(exc, request)
            body = HttpAbort(code, message).body()
            return web.json_response(body, status=exc.status, headers={**JSON_HEADERS, **_allow(exc)})
        except Exception:
            request_id = uuid.uuid4().hex[:12]
            log.exception("internal error in the HTTP API (request %s)", request_id)
            return error_response(HttpAbort(grpc.StatusCode.INTERNAL,
                                            f"internal error; the server log has request {request_id}"))

    def _http_error(self, exc: web.HTTPException, request: web.Request) -> tuple[grpc.StatusCode, str]:
        """Return the status and message of an error aiohttp raised before a servicer ran."""
        if exc.status == 404:
            return grpc.StatusCode.NOT_FOUND, (f"no method at {request.path}; methods are POST "
                                               "/v1/<service>/<Method>, listed in GET /v1/openapi.json")
        if exc.status == 405:
            return grpc.StatusCode.UNIMPLEMENTED, f"{request.method} {request.path}: methods are called with POST"
        if exc.status == 413:
            return grpc.StatusCode.RESOURCE_EXHAUSTED, (
                f"request body is larger than {JSON_SIZE_FACTOR * self.max_message_bytes} bytes "
                f"({JSON_SIZE_FACTOR} x max_message_bytes)")
        return grpc.StatusCode.INVALID_ARGUMENT, exc.reason

    async def _static(self, request: web.Request) -> web.Response:
        """A console file; the files need no token (they hold no data), the API calls they make do."""
        found = self.files[request.path]
        return web.Response(body=found.body, headers={**SECURITY_HEADERS, "Content-Type": found.content_type})

    async def _openapi(self, request: web.Request) -> web.Response:
        return web.Response(text=self.document, content_type="application/json", headers=JSON_HEADERS)

    async def _call(self, request: web.Request) -> web.StreamResponse:
        route = self.routes.get(f"/{request.match_info['service']}/{request.match_info['method']}")
        if route is None:
            raise web.HTTPNotFound()
        if request.method != "POST":
            raise web.HTTPMethodNotAllowed(request.method, ["POST"])
        metadata: Metadata = tuple((key.lower(), value) for key, value in request.headers.items())
        try:
            if self.tokens is not None:
                refused = rejection(self.tokens, route.path, metadata)
                if refused is not None:
                    raise HttpAbort(*refused)
            message = await self._request_message(route, request)
            context = HttpContext(metadata, _timeout(request), _peer(request))
            if route.streaming:
                return await self._stream(route, message, context, request)
            return web.json_response(json_of(await route.call(message, context)), headers=JSON_HEADERS)
        except HttpAbort as abort:
            return error_response(abort)

    async def _request_message(self, route: Route, request: web.Request) -> Message:
        """Return the request message of a JSON body, or raise HttpAbort saying what is wrong with it."""
        body = await request.read()
        message = route.request_class()
        if not body.strip():
            return message
        try:
            json_format.Parse(body.decode("utf-8"), message)
        except (json_format.ParseError, UnicodeDecodeError) as exc:
            name = route.request_class.DESCRIPTOR.full_name
            raise _invalid(encodable(f"request body is not a {name} in the proto3 JSON mapping: {exc}")) from None
        size = message.ByteSize()
        if size > self.max_message_bytes:
            raise HttpAbort(grpc.StatusCode.RESOURCE_EXHAUSTED, f"request is {size} bytes as protobuf, more than "
                            f"max_message_bytes ({self.max_message_bytes})")
        return message

    async def _stream(self, route: Route, message: Message, context: HttpContext,
                      request: web.Request) -> web.StreamResponse:
        """Answer a server-streaming call as NDJSON; an error before the first message is a plain error reply."""
        messages: AsyncIterator[Message] = route.call(message, context)
        try:
            item = await anext(messages, None)  # raises HttpAbort while the reply can still carry its status
            reply = web.StreamResponse(headers={**JSON_HEADERS, "Content-Type": NDJSON})
            await reply.prepare(request)
            try:
                while item is not None:
                    await reply.write(_line({"result": json_of(item)}))
                    item = await anext(messages, None)
            except HttpAbort as abort:
                await reply.write(_line({"error": abort.body()}))
            except ConnectionResetError:
                return reply  # the reader left; closing the stream below releases its slot
            await reply.write_eof()
            return reply
        finally:
            await messages.aclose()  # type: ignore[attr-defined]


def _line(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def _allow(exc: web.HTTPException) -> dict[str, str]:
    allow = exc.headers.get("Allow")
    return {"Allow": allow} if allow else {}


def _timeout(request: web.Request) -> float | None:
    header = request.headers.get("grpc-timeout")
    if header is None:
        return None
    try:
        return seconds_of_timeout(header.strip())
    except DolphinError as exc:
        raise HttpAbort(status_code(exc), str(exc), type(exc).__name__) from None


def _peer(request: web.Request) -> str:
    remote = request.remote or "unknown"
    return f"ipv6:[{remote}]" if ":" in remote else f"ipv4:{remote}"
