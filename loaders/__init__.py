"""Loaders: Polars batch jobs that write snapshot versions through dolphin.storage.

May import dolphin.storage, dolphin.errors and dolphin.config; never dolphin.engine or dolphin.server.
"""

from __future__ import annotations

from loaders.tags import LoadReport, load_tags

__all__ = ["LoadReport", "load_tags"]
