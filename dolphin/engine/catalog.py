"""Listings: dimensions with their values and sizes, saved audiences; name-ordered, paged."""

from __future__ import annotations

import base64
import binascii

from pyroaring import AbstractBitMap

from dolphin.engine.results import DimensionInfo
from dolphin.engine.snapshot import Snapshot
from dolphin.errors import InvalidPageTokenError, NotFoundError


def name_token(last_name: str) -> str:
    """Return a token that resumes a name-ordered listing after last_name."""
    return base64.urlsafe_b64encode(last_name.encode()).decode()


def read_name_token(token: str) -> str:
    """Return the name a listing token resumes after ("" for the first page)."""
    if not token:
        return ""
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidPageTokenError("it is not a listing token") from None


def page_of_names(names: list[str], page_size: int, page_token: str) -> tuple[list[str], str]:
    """Return (names on this page, next token) from sorted names."""
    after = read_name_token(page_token)
    remaining = [n for n in names if n > after] if after else names
    page = remaining[:page_size]
    more = len(remaining) > page_size
    return page, name_token(page[-1]) if more and page else ""


def _container_bytes(bitmap: AbstractBitMap) -> int:
    """Return the bytes of a bitmap's containers (what it holds in memory, without the per-bitmap overhead)."""
    stats = bitmap.get_statistics()
    return int(stats["n_bytes_array_containers"] + stats["n_bytes_run_containers"] + stats["n_bytes_bitset_containers"])


def describe_dimension(snap: Snapshot, name: str, max_values: int) -> DimensionInfo:
    """Return a dimension's kind, size and its largest values."""
    if not snap.has_dimension(name):
        suggestion = snap.suggest_dimension(name)
        hint = f'; did you mean "{suggestion}"?' if suggestion else ""
        raise NotFoundError(f'dimension "{name}" not found{hint}')
    if snap.is_numeric(name):
        index = snap.numeric(name)
        size = snap.memo(name, "index bytes", lambda: sum(_container_bytes(bm) for bm in snap.tags[name].values()))
        return DimensionInfo(name, str(snap.kinds[name]), 0, len(index.exists), [], snap.bounds(name),
                             len(index.bits), size)
    tags = snap.tags[name]
    ranked = sorted(((v, len(bm)) for v, bm in tags.items()), key=lambda item: (-item[1], item[0]))
    users = snap.users_with_value(name)
    return DimensionInfo(name, str(snap.kinds[name]), len(tags), users, ranked[:max_values])
