"""Thin gRPC adapters over dolphin.engine: decode, call the engine, encode, map errors to status codes.

May import dolphin.engine, dolphin.v1, dolphin.errors, dolphin.config and grpc; never loaders or storage.
"""

from __future__ import annotations

from dolphin.server.app import build_server, serve

__all__ = ["build_server", "serve"]
