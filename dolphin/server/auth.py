"""Bearer-token authentication and role checks, as one server interceptor.

Tokens come from a file of `token role` lines (`#` comments allowed), reloaded on SIGHUP; a file that does not
parse keeps the previous tokens. Roles nest: admin can do what writer can, writer what reader can. Health is
open (probes carry no token). Tokens are compared in constant time and never logged.
"""

from __future__ import annotations

import hmac
import logging
import pathlib
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from dolphin.errors import InvalidArgumentError, RoleError

log = logging.getLogger("dolphin.server")
ROLES = {"reader": 1, "writer": 2, "admin": 3}
OPEN_PREFIXES = ("/grpc.health.v1.Health/",)
WRITER_METHODS = {
    "/dolphin.v1.AudienceService/SaveAudience",
    "/dolphin.v1.AudienceService/DeleteAudience",
    "/dolphin.v1.AdEffectService/Split",
    "/dolphin.v1.IngestService/Mutate",
    "/dolphin.v1.IngestService/GetOffsets",
}
ADMIN_METHODS = {"/dolphin.v1.AdminService/Reload", "/dolphin.v1.AdminService/Checkpoint"}


def required_role(method: str) -> str | None:
    """Return the role a method needs (None: open to anyone)."""
    if method.startswith(OPEN_PREFIXES):
        return None
    if method in ADMIN_METHODS:
        return "admin"
    if method in WRITER_METHODS:
        return "writer"
    return "reader"  # queries, catalog, status, lookalike, reflection


def parse_token_file(path: pathlib.Path) -> list[tuple[bytes, str]]:
    """Return (token, role) pairs; a malformed line raises InvalidArgumentError naming it (not its token)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise InvalidArgumentError(f"{path}: cannot read the token file: {exc.strerror}") from None
    pairs = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        parts = stripped.split()
        if len(parts) != 2 or parts[1] not in ROLES:
            raise InvalidArgumentError(f"{path}:{number}: expected `token role` with role reader, writer or admin")
        if len(parts[0]) < 16:
            raise InvalidArgumentError(f"{path}:{number}: tokens must be at least 16 characters")
        pairs.append((parts[0].encode(), parts[1]))
    return pairs


def check_role(store: TokenStore | None, metadata: Any, needed: str, what: str) -> None:
    """Raise RoleError unless the call's token has at least the role `needed` (no-op without tokens)."""
    if store is None:
        return
    token = bearer_token(tuple(metadata or ()))
    role = store.role_of(token) if token else None
    if role is None or ROLES[role] < ROLES[needed]:
        raise RoleError(f"{what} needs the {needed} role; this token is {role or 'unknown'}")


class TokenStore:
    """The tokens in force; swapped whole on reload."""

    def __init__(self, path: pathlib.Path) -> None:
        self.path = path
        self.tokens = parse_token_file(path)

    def reload(self) -> None:
        """Re-read the file; on error keep the current tokens and log why."""
        try:
            self.tokens = parse_token_file(self.path)
        except InvalidArgumentError as exc:
            log.error("token file not reloaded, keeping %d tokens: %s", len(self.tokens), exc)
            return
        log.info("token file reloaded: %d tokens", len(self.tokens))

    def role_of(self, token: bytes) -> str | None:
        """Return the token's role; every stored token is compared, in constant time."""
        found = None
        for candidate, role in self.tokens:
            if hmac.compare_digest(candidate, token):
                found = role
        return found


def bearer_token(metadata: tuple[tuple[str, str | bytes], ...] | None) -> bytes | None:
    """Return the token of the single `authorization: Bearer <token>` header, else None."""
    values = [v for k, v in (metadata or ()) if k.lower() == "authorization"]
    if len(values) != 1:
        return None
    value = values[0].decode() if isinstance(values[0], bytes) else values[0]
    scheme, _, token = value.strip().partition(" ")
    return token.strip().encode() if scheme.lower() == "bearer" and token.strip() else None


def _rejecting(handler: grpc.RpcMethodHandler, code: grpc.StatusCode, message: str) -> grpc.RpcMethodHandler:
    async def reject(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        await context.abort(code, message)

    async def reject_stream(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        await context.abort(code, message)
        yield  # pragma: no cover  (makes this an async generator)

    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(reject_stream)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(reject)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(reject_stream)
    return grpc.unary_unary_rpc_method_handler(reject)


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """UNAUTHENTICATED without a known token; PERMISSION_DENIED when its role is too low."""

    def __init__(self, store: TokenStore) -> None:
        self.store = store

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        refused = rejection(self.store, handler_call_details.method, handler_call_details.invocation_metadata)
        return handler if refused is None else _rejecting(handler, *refused)


def rejection(store: TokenStore, method: str, metadata: Any) -> tuple[grpc.StatusCode, str] | None:
    """Return why a call of method (`/pkg.Service/Method`) with this metadata is refused, or None to let it in.

    The one check behind both the gRPC interceptor and the HTTP API.
    """
    needed = required_role(method)
    if needed is None:
        return None
    token = bearer_token(tuple(metadata or ()))
    role = store.role_of(token) if token else None
    if role is None:
        return grpc.StatusCode.UNAUTHENTICATED, "missing or unknown token; send `authorization: Bearer <token>`"
    if ROLES[role] < ROLES[needed]:
        return grpc.StatusCode.PERMISSION_DENIED, f"{method} needs the {needed} role; this token is {role}"
    return None
