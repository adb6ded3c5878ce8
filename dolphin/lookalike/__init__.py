"""Lookalike recall: users similar to a seed audience, from a FAISS index filtered by Dolphin's bitmaps.

Imports dolphin.engine and dolphin.storage; faiss is imported lazily. Must not import grpc or dolphin.v1.
"""

from __future__ import annotations

from dolphin.lookalike.recall import (
    Lookalike,
    LookalikeApi,
    LookalikeResult,
    Method,
    SeedVectors,
    VectorHits,
    VectorPool,
    check_request,
    no_seed_vectors,
    recall,
)

__all__ = ["Lookalike", "LookalikeApi", "LookalikeResult", "Method", "SeedVectors", "VectorHits", "VectorPool",
           "check_request", "no_seed_vectors", "recall"]
