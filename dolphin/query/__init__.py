"""The audience expression language: lexer, parser, AST and limits.

Pure Python. Must not import pyroaring, numpy, grpc or anything from dolphin except dolphin.errors.
"""

from __future__ import annotations

from dolphin.query.ast import All, And, Between, Compare, Event, Expr, In, Not, NotIn, Or, Saved, Tag, format_expr
from dolphin.query.limits import QueryLimits
from dolphin.query.parser import parse

__all__ = [
    "All", "And", "Between", "Compare", "Event", "Expr", "In", "Not", "NotIn", "Or", "QueryLimits", "Saved", "Tag",
    "format_expr", "parse",
]
