"""One byte budget for a snapshot's read caches: past it, the least recently used entries go first.

Without it the caches grow with users and with the variety of queries: per-user value codes are a byte per user
per dimension (1 GB per profiled dimension at 1B users), a dimension's users and a numeric field's unions are
bitmaps over the population. A value larger than the whole budget is never kept; callers that have a plan
without it (profiles intersect instead of using value codes) ask `fits` first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TypeVar

T = TypeVar("T")
CacheKey = tuple[str, str, Hashable]  # (cache name, dimension or field, what of it)
DEFAULT_LIMIT = 256 * 1024 * 1024


class CacheBudget:
    """Entries keyed (cache, dimension, detail), each with its size; their total stays within `limit` bytes."""

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self.limit = limit
        self._entries: OrderedDict[CacheKey, tuple[object, int]] = OrderedDict()  # least recently used first
        self._bytes = 0
        self._lock = threading.Lock()

    def fits(self, nbytes: int) -> bool:
        """True when a value of nbytes may be kept at all."""
        return nbytes <= self.limit

    def get(self, key: CacheKey) -> object | None:
        """Return the value kept under key (now the most recently used), or None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: CacheKey, value: object, nbytes: int) -> None:
        """Keep value under key, dropping the least recently used entries past the limit (a value that does not
        fit is not kept)."""
        if not self.fits(nbytes):
            return
        with self._lock:
            previous = self._entries.pop(key, None)
            if previous is not None:
                self._bytes -= previous[1]
            self._entries[key] = (value, nbytes)
            self._bytes += nbytes
            while self._bytes > self.limit:
                _, (_, size) = self._entries.popitem(last=False)
                self._bytes -= size

    def cached(self, key: CacheKey, build: Callable[[], T], size: Callable[[T], int]) -> T:
        """Return the value under key, building and keeping it (when it fits) if there is none."""
        found = self.get(key)
        if found is None:
            found = build()
            self.put(key, found, size(found))
        return found  # type: ignore[return-value]

    def derived(self, drop: Callable[[CacheKey], bool]) -> CacheBudget:
        """Return a budget with this one's limit and entries, in the same order, less those drop() picks."""
        kept = CacheBudget(self.limit)
        with self._lock:
            kept._entries = OrderedDict((k, e) for k, e in self._entries.items() if not drop(k))
        kept._bytes = sum(size for _, size in kept._entries.values())
        return kept

    def bytes_by_cache(self, names: tuple[str, ...]) -> dict[str, int]:
        """Return the bytes kept per cache name (every name given, 0 when empty)."""
        totals = dict.fromkeys(names, 0)
        with self._lock:
            for (name, _, _), (_, size) in self._entries.items():
                totals[name] = totals.get(name, 0) + size
        return totals
