"""Dolphin: a bitmap-based audience OLAP service.

Public surface: the gRPC Client, the in-process Engine, the error types and the version.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dolphin.errors import (
    AudienceExistsError,
    AudienceNotFoundError,
    DeadlineError,
    DolphinError,
    InvalidArgumentError,
    InvalidPageTokenError,
    LoadError,
    NotFoundError,
    NotReadyError,
    PreconditionError,
    QueryError,
    QueryLimitError,
    QuerySyntaxError,
    QueryTypeError,
    RoleError,
    SnapshotError,
    StalePageTokenError,
    StorageFullError,
    UnknownDimensionError,
)

__version__ = "0.1.0"

if TYPE_CHECKING:
    from dolphin.client import Client
    from dolphin.engine import Engine

__all__ = [
    "AudienceExistsError",
    "AudienceNotFoundError",
    "Client",
    "DeadlineError",
    "DolphinError",
    "Engine",
    "InvalidArgumentError",
    "InvalidPageTokenError",
    "LoadError",
    "NotFoundError",
    "NotReadyError",
    "PreconditionError",
    "QueryError",
    "QueryLimitError",
    "QuerySyntaxError",
    "QueryTypeError",
    "RoleError",
    "SnapshotError",
    "StalePageTokenError",
    "StorageFullError",
    "UnknownDimensionError",
    "__version__",
]


def __getattr__(name: str) -> Any:
    # Lazy, so that `import dolphin` for the client does not pull in pyroaring, and the engine not grpc.
    if name == "Client":
        from dolphin.client import Client

        return Client
    if name == "Engine":
        from dolphin.engine import Engine

        return Engine
    raise AttributeError(f"module 'dolphin' has no attribute {name!r}")
