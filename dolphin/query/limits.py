"""Limits that bound the work one expression can ask for."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class QueryLimits:
    """Longest expression (characters), most terms (values named), deepest nesting."""

    max_length: int = 8192
    max_terms: int = 500
    max_depth: int = 32
