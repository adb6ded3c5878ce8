"""Pure bitmap query engine: planning, evaluation, profiles, exports, saved audiences, reloads.

Must not import grpc, google.protobuf, dolphin.v1, dolphin.server or asyncio.
"""

from __future__ import annotations

from dolphin.engine.engine import Engine, EngineLimits

__all__ = ["Engine", "EngineLimits"]
