"""Dolphin's error tree, and STATUS_NAMES: the one table of the gRPC status code each class is answered with.

    DolphinError
    ├── QueryError                  a bad audience expression
    │   ├── QuerySyntaxError        position, expected, found
    │   ├── UnknownDimensionError   name, suggestion
    │   └── QueryTypeError          position: a comparison that does not fit its field (< on tags, text vs numbers)
    ├── QueryLimitError             limit, value (an expression or request too large)
    ├── InvalidArgumentError        any other bad request field
    ├── InvalidPageTokenError       reason
    ├── StalePageTokenError         token_version, current_version
    ├── NotFoundError
    │   └── AudienceNotFoundError   name
    ├── AudienceExistsError         name
    ├── RoleError                   a token whose role does not allow this request
    ├── PreconditionError           the data cannot answer this yet (no embeddings, seed without vectors)
    ├── NotReadyError               no snapshot loaded yet
    ├── ShardUnavailableError       shard: a cluster shard did not answer (it is restarting or unreachable)
    ├── DeadlineError               elapsed
    ├── LoadError                   the batch loader cannot use its input
    ├── SnapshotError               a snapshot on disk is damaged or missing
    ├── WalCorruptError             path, offset: a damaged record in the middle of the write-ahead log
    └── StorageFullError            the data dir is full (ENOSPC/EFBIG writing the log or a version): nothing changed

This module imports nothing from Dolphin and nothing from gRPC.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Position:
    """A 1-based line and column in an expression."""

    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.line}:{self.column}"


class DolphinError(Exception):
    """Base of every error Dolphin raises on purpose."""

    def __init__(self, message: str, details: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self._details = dict(details or {})

    def __str__(self) -> str:
        return self.message

    def details(self) -> dict[str, str]:
        """Return the fields a program can act on beside the message (e.g. `position` "1:17", `suggestion`).

        They travel with the status (trailing metadata `dolphin-error-details`, the HTTP error body's `details`).
        """
        return dict(self._details)

    @classmethod
    def from_message(cls, message: str, details: dict[str, str] | None = None) -> DolphinError:
        """Rebuild an error from its rendered message and details (used by the client)."""
        err = cls.__new__(cls)
        DolphinError.__init__(err, message, details)
        return err


class QueryError(DolphinError):
    """An audience expression that cannot be evaluated."""


class QuerySyntaxError(QueryError):
    """An expression that does not parse."""

    def __init__(self, position: Position, expected: str, found: str) -> None:
        super().__init__(f"{position}: expected {expected}{found}", {"position": str(position)})
        self.position = position
        self.expected = expected
        self.found = found


class UnknownDimensionError(QueryError):
    """A dimension name that the snapshot does not have."""

    def __init__(self, name: str, suggestion: str | None, position: Position | None = None) -> None:
        where = f"{position}: " if position else ""
        hint = f'; did you mean "{suggestion}"?' if suggestion else "; list them with ListDimensions"
        details = {"name": name, "suggestion": suggestion or ""}
        if position:
            details["position"] = str(position)
        super().__init__(f'{where}unknown dimension "{name}"{hint}', details)
        self.name = name
        self.suggestion = suggestion
        self.position = position


class QueryTypeError(QueryError):
    """A term whose operator or value does not fit the kind of its dimension or field."""

    def __init__(self, position: object, message: str) -> None:
        where = f"{position}: " if position else ""
        super().__init__(f"{where}{message}", {"position": str(position)} if position else {})
        self.position = position


class QueryLimitError(DolphinError):
    """A request over one of the configured limits."""

    def __init__(self, what: str, value: int, limit: int, setting: str) -> None:
        super().__init__(f"{what} is {value}; the limit is {limit} (--{setting.replace('_', '-')})")
        self.what = what
        self.value = value
        self.limit = limit
        self.setting = setting


class InvalidArgumentError(DolphinError):
    """A request field with a value Dolphin cannot use."""


class InvalidPageTokenError(DolphinError):
    """A page token that was not issued for this request."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"invalid page token: {reason}; restart without a page token")
        self.reason = reason


class StalePageTokenError(DolphinError):
    """A page token from a snapshot version that is no longer served."""

    def __init__(self, token_version: int, current_version: int) -> None:
        super().__init__(
            f"page token is from snapshot {token_version}; current is {current_version}; restart the export"
        )
        self.token_version = token_version
        self.current_version = current_version


class NotFoundError(DolphinError):
    """Something named in the request does not exist."""


class AudienceNotFoundError(NotFoundError):
    """A saved audience name that does not exist."""

    def __init__(self, name: str) -> None:
        super().__init__(f'audience "@{name}" not found')
        self.name = name


class AudienceExistsError(DolphinError):
    """SaveAudience with a taken name and no overwrite."""

    def __init__(self, name: str) -> None:
        super().__init__(f'audience "@{name}" exists; pass overwrite=true to replace it')
        self.name = name


class RoleError(DolphinError):
    """The caller's token role does not allow this request (e.g. a reader saving a lookalike result)."""


class PreconditionError(DolphinError):
    """The request is valid but the data cannot answer it (no embeddings loaded, a seed without vectors)."""


class NotReadyError(DolphinError):
    """No snapshot is loaded yet."""

    def __init__(self, message: str = 'no snapshot loaded yet; run "dolphin load tags" first') -> None:
        super().__init__(message)


class ShardUnavailableError(DolphinError):
    """A cluster shard did not answer; the call gives no partial answer, and a retry may succeed."""

    def __init__(self, shard: int, reason: str) -> None:
        super().__init__(f"shard {shard} is unavailable ({reason}); no partial answer was given, retry shortly")
        self.shard = shard


class DeadlineError(DolphinError):
    """The call's time budget ran out inside the engine."""

    def __init__(self, what: str, elapsed: float, step: str = "") -> None:
        at = f" at {step}" if step else ""
        super().__init__(
            f"{what} timed out after {elapsed:.3f} s{at}; narrow the expression or raise the deadline"
        )
        self.elapsed = elapsed


class LoadError(DolphinError):
    """The batch loader cannot use its input."""


class SnapshotError(DolphinError):
    """A snapshot version on disk is damaged or incomplete."""


class WalCorruptError(DolphinError):
    """A record in the middle of the log fails its checks while later records are valid: refuse to guess."""

    def __init__(self, path: object, offset: int, reason: str) -> None:
        super().__init__(f"{path}: corrupt WAL record at byte {offset} ({reason}) followed by valid records; "
                         "run with --wal-recovery=truncate-at-corruption to drop everything after it")
        self.path = path
        self.offset = offset


class StorageFullError(DolphinError):
    """The data dir has no room for a log record or a version; nothing was applied, acknowledged or published."""


# The one table from error class to the name of its gRPC status code. The server turns the names into
# grpc.StatusCode (dolphin.server.status); the client derives its fallback for a status without the error class
# from it (dolphin.client). Per code, the first class listed is the general one the client falls back to.
STATUS_NAMES: dict[type[DolphinError], str] = {
    InvalidArgumentError: "INVALID_ARGUMENT",
    QueryError: "INVALID_ARGUMENT",
    InvalidPageTokenError: "INVALID_ARGUMENT",
    PreconditionError: "FAILED_PRECONDITION",
    StalePageTokenError: "FAILED_PRECONDITION",
    LoadError: "FAILED_PRECONDITION",
    QueryLimitError: "RESOURCE_EXHAUSTED",
    StorageFullError: "RESOURCE_EXHAUSTED",
    NotFoundError: "NOT_FOUND",
    AudienceExistsError: "ALREADY_EXISTS",
    NotReadyError: "UNAVAILABLE",
    ShardUnavailableError: "UNAVAILABLE",
    RoleError: "PERMISSION_DENIED",
    DeadlineError: "DEADLINE_EXCEEDED",
    SnapshotError: "DATA_LOSS",
    WalCorruptError: "DATA_LOSS",
}


def fallback_classes() -> dict[str, type[DolphinError]]:
    """Return status code name -> the general class of that code (the first listed in STATUS_NAMES)."""
    out: dict[str, type[DolphinError]] = {}
    for cls, name in STATUS_NAMES.items():
        out.setdefault(name, cls)
    return out
