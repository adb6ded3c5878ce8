"""Lookalike recall: users similar to a seed audience, from a FAISS index filtered by Dolphin's bitmaps.

Imports dolphin.engine and dolphin.storage; faiss is imported lazily. Must not import grpc or dolphin.v1.
"""

from __future__ import annotations

from dolphin.lookalike.recall import Lookalike, LookalikeResult, Method

__all__ = ["Lookalike", "LookalikeResult", "Method"]
