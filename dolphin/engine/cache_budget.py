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
# The default budget follows the data, 2.5 bytes per user: room for two dimensions' value codes (a byte per user
# each) or twenty bitset unions (an eighth of a byte each). At 10M users that is 25 MB, and the server stays within
# 1.5x its bitmaps and dictionary after every query type (bench/memory.py); a fixed 256 MB took it to 1.57x. At
# 1B users it is 2.5 GB.
BYTES_PER_USER = 2.5


class CacheBudget:
    """Entries keyed (cache, dimension, detail), each with its size; their total stays within `limit` bytes.

    With bytes_per_user the limit follows the users of the snapshot the budget serves (`for_users`).
    """

    def __init__(self, limit: int = DEFAULT_LIMIT, *, bytes_per_user: float = 0.0) -> None:
        self.limit = limit
        self.bytes_per_user = bytes_per_user
        self._entries: OrderedDict[CacheKey, tuple[object, int]] = OrderedDict()  # least recently used first
        self._bytes = 0
        self._lock = threading.Lock()

    @staticmethod
    def per_user(bytes_per_user: float = BYTES_PER_USER) -> CacheBudget:
        """Return an empty budget of bytes_per_user for each user of the snapshot it will serve."""
        return CacheBudget(0, bytes_per_user=bytes_per_user)

    def for_users(self, users: int) -> None:
        """Size a per-user budget for a snapshot of this many users, dropping what no longer fits (a fixed
        budget keeps its limit)."""
        if self.bytes_per_user:
            with self._lock:
                self.limit = int(self.bytes_per_user * users)
                self._drop_past_limit()

    def emptied(self) -> CacheBudget:
        """Return a budget sized like this one, with no entries."""
        return CacheBudget(self.limit, bytes_per_user=self.bytes_per_user)

    def _drop_past_limit(self) -> None:
        while self._bytes > self.limit:
            _, (_, size) = self._entries.popitem(last=False)
            self._bytes -= size

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
            self._drop_past_limit()

    def cached(self, key: CacheKey, build: Callable[[], T], size: Callable[[T], int]) -> T:
        """Return the value under key, building and keeping it (when it fits) if there is none."""
        found = self.get(key)
        if found is None:
            found = build()
            self.put(key, found, size(found))
        return found  # type: ignore[return-value]

    def derived(self, drop: Callable[[CacheKey], bool]) -> CacheBudget:
        """Return a budget with this one's limit and entries, in the same order, less those drop() picks."""
        kept = self.emptied()
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
