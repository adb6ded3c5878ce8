"""Campaign events in a snapshot: reach bitmaps per (campaign, event, day) and date-range unions."""

from __future__ import annotations

import datetime
import threading

from pyroaring import AbstractBitMap, BitMap, FrozenBitMap

from dolphin.engine.frozen import frozen
from dolphin.engine.memory import bitmap_bytes
from dolphin.errors import InvalidArgumentError, NotFoundError

EMPTY = FrozenBitMap()
CACHE_ENTRIES = 512


def parse_day(text: str, field: str) -> datetime.date:
    """Return the date of ISO text (2026-11-01), or raise InvalidArgumentError naming the field."""
    try:
        if len(text) != 10:
            raise ValueError(text)
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise InvalidArgumentError(f'{field} must be an ISO date such as 2026-11-01, got "{text}"') from None


def check_range(start: datetime.date, end: datetime.date, max_days: int) -> int:
    """Return the number of days in [start, end], or raise InvalidArgumentError for a reversed or long range."""
    if end < start:
        raise InvalidArgumentError(f"the date range {start} to {end} is reversed")
    days = (end - start).days + 1
    if days > max_days:
        raise InvalidArgumentError(f"the date range is {days} days; the limit is {max_days} (--max-event-days)")
    return days


class EventIndex:
    """The events of one snapshot, with a bounded cache of date-range unions.

    A stream batch derives the next snapshot's index (`derived`): only the (campaign, event) pairs it touched
    are re-sorted, and only their cached unions are dropped, so a funnel over one campaign keeps its cache while
    events of another stream in.
    """

    def __init__(self, events: dict[tuple[str, str], dict[str, FrozenBitMap]]) -> None:
        self.events = events
        self.days: dict[tuple[str, str], list[str]] = {key: sorted(days) for key, days in events.items() if days}
        self._cache: dict[tuple[str | None, str, str, str], AbstractBitMap] = {}
        self._lock = threading.Lock()
        self._index_names()

    def cached_bytes(self) -> int:
        """Return the memory of the cached date-range unions."""
        with self._lock:
            return sum(bitmap_bytes(b) for b in self._cache.values())

    def _index_names(self) -> None:
        self.campaigns: dict[str, dict[str, list[str]]] = {}
        for (campaign, event), days in sorted(self.days.items()):
            self.campaigns.setdefault(campaign, {})[event] = days
        self.event_names = sorted({event for _, event in self.days})
        self.newest_day = max((days[-1] for days in self.days.values()), default="")
        self.oldest_day = min((days[0] for days in self.days.values()), default="")

    def derived(self, events: dict[tuple[str, str], dict[str, FrozenBitMap]],
                touched: set[tuple[str, str]]) -> EventIndex:
        """Return the index of events, which differ from this index's only in the touched (campaign, event)s."""
        index = EventIndex.__new__(EventIndex)
        index.events = events
        index.days = dict(self.days)
        for key in touched:
            days = events.get(key)
            if days:
                index.days[key] = sorted(days)
            else:
                index.days.pop(key, None)
        names = {event for _, event in touched}
        with self._lock:  # readers of this snapshot may be adding entries
            cached = list(self._cache.items())
        index._cache = {k: v for k, v in cached if (k[1] not in names if k[0] is None else (k[0], k[1]) not in touched)}
        index._lock = threading.Lock()
        index._index_names()
        return index

    def check(self, campaign: str | None, event: str, strict: bool = True) -> None:
        """Raise NotFoundError naming an unknown campaign or event (unless not strict: a cluster shard's are empty)."""
        if not strict:
            return
        if campaign is not None and campaign not in self.campaigns:
            known = ", ".join(list(self.campaigns)[:10]) or "none loaded"
            raise NotFoundError(f'campaign "{campaign}" not found (known: {known})')
        names = list(self.campaigns[campaign]) if campaign is not None else self.event_names
        if event not in names:
            where = f' in campaign "{campaign}"' if campaign is not None else ""
            raise NotFoundError(f'event "{event}" not found{where} (known: {", ".join(names[:10]) or "none"})')

    def day_bitmap(self, campaign: str, event: str, day: str) -> FrozenBitMap:
        """Return the users who did an event of a campaign on one day."""
        return self.events.get((campaign, event), {}).get(day, EMPTY)

    def reach(self, campaign: str | None, event: str, start: str, end: str, strict: bool = True) -> AbstractBitMap:
        """Return the users who did the event in [start, end] (ISO days), in one campaign or any."""
        self.check(campaign, event, strict)
        key = (campaign, event, start, end)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        campaigns = [campaign] if campaign is not None else [c for c in self.campaigns if event in self.campaigns[c]]
        parts = [bm for c in campaigns for day, bm in self.events.get((c, event), {}).items() if start <= day <= end]
        result: AbstractBitMap = EMPTY
        if parts:
            result = frozen(BitMap.union(*parts)) if len(parts) > 1 else parts[0]
        with self._lock:
            if len(self._cache) >= CACHE_ENTRIES:
                self._cache.clear()
            self._cache[key] = result
        return result

    def span(self, campaign: str | None, event: str, strict: bool = True) -> tuple[str, str]:
        """Return the first and last day an event has data ("", "" when none)."""
        self.check(campaign, event, strict)
        campaigns = [campaign] if campaign is not None else [c for c in self.campaigns if event in self.campaigns[c]]
        days = [d for c in campaigns for d in self.campaigns.get(c, {}).get(event, [])]
        return (min(days), max(days)) if days else ("", "")
