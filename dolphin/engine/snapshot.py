"""The served state: one immutable snapshot, with lazily built read caches, and the reference to it."""

from __future__ import annotations

import dataclasses
import difflib
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
from pyroaring import AbstractBitMap, BitMap, FrozenBitMap

from dolphin.engine.bsi import Field
from dolphin.engine.cache_budget import CacheBudget
from dolphin.engine.events import EventIndex
from dolphin.engine.frozen import frozen
from dolphin.engine.memory import bitmap_bytes, value_bytes
from dolphin.engine.step_order import ARRAY_MAX, CONTAINER_IDS
from dolphin.errors import NotReadyError
from dolphin.storage import DimensionKind, IdDictionary, Manifest, SnapshotData

EMPTY = FrozenBitMap()
MEMO_ENTRIES = 256
T = TypeVar("T")
UINT8_CODES = 255  # codes 1..255 in one byte; 0 is no value
REST_SHARE = 0.05  # of a dimension's users at most, in the values left without a code (coded_values)
CODES_MIN_VALUES = 32  # below this, one intersection per value beats a bincount over the audience
# codes_pay's estimates, ns (bench at 10M: codes cost 8-14 ns per audience user; one value's intersection with a
# dense audience about 0.3 us for city's 300 values, 1.1 us for occupation's 40)
CODE_NS = 10.0  # per audience user: its code gathered and counted
PAIR_NS = 70.0  # per pair of containers intersected, besides their IDs
MERGE_NS = 0.5  # per ID of two array containers merged
PROBE_NS = 1.0  # per ID of an array container probed in a bitset
BITSETS_NS = 300.0  # the cardinality of two bitsets' AND
BUDGETED_CACHES = ("value_codes", "dimension_users", "numeric_unions")  # what Snapshot.cache holds


@dataclass(frozen=True, slots=True)
class StreamState:
    """How far the stream has come in a snapshot: applied batches, the log position after them, source offsets."""

    sequence: int = 0  # stream batches applied since the process started (recovery replays count too)
    wal_position: int = 0  # log position of the first record not applied in this snapshot
    offsets: Mapping[str, int] = field(default_factory=dict)  # source -> highest applied offset
    # tags that differ from the version on disk this snapshot builds on (data.path) -> the sequence that last
    # changed them; a checkpoint writes these over that version (its overlay carries the rest of the chain)
    dirty: Mapping[tuple[str, str], int] = field(default_factory=dict)
    # event days (campaign, event, day) that differ from that version -> the sequence that last changed them
    dirty_events: Mapping[tuple[str, str, str], int] = field(default_factory=dict)
    # the sequence a version on disk holds all of (-1: none does, e.g. after a replay or an adopted batch load);
    # a checkpoint has work to do while it differs from sequence
    saved_sequence: int = 0

    def advanced(self, wal_position: int, offsets: Mapping[str, int], batches: int) -> StreamState:
        """Return the state after more batches (dirty tags are added by the apply)."""
        return dataclasses.replace(self, sequence=self.sequence + batches, wal_position=wal_position,
                                   offsets=offsets)


class Snapshot:
    """The served state: one version's SnapshotData plus the stream batches applied on top, with read caches.

    Three types make up a snapshot: a version on disk (`storage.layout`: a directory of shard files, an ID
    dictionary and a manifest), `storage.SnapshotData` (that version read and crc-checked into memory), and this
    (what queries read). Never mutated once published: stream batches derive new Snapshot objects with the same
    `version` (the version on disk they build on) and a higher `stream.sequence`.
    """

    def __init__(self, data: SnapshotData, stream: StreamState | None = None, events: EventIndex | None = None,
                 cache: CacheBudget | None = None) -> None:
        """Serve data; `events` is its event index when the caller derived it from a previous snapshot's; cache
        holds the value codes, dimension users and numeric unions (default: an empty per-user budget), sized here
        for this snapshot's users."""
        self.data = data
        self.stream = stream or StreamState()
        self.version = data.version
        self.population = data.population
        self.ids = data.ids
        self.kinds: dict[str, DimensionKind] = data.dimensions
        self.tags = data.tags
        self.loaded_at = time.time()
        self.tag_count = sum(len(v) for d, v in data.tags.items() if not self.kinds[d].numeric)
        self._lock = threading.Lock()
        self.cache = cache if cache is not None else CacheBudget.per_user()
        self.cache.for_users(len(data.ids))
        self._fields: dict[str, Field] = {}
        self._bounds: dict[str, tuple[int, int] | None] = {}
        self._memo: dict[tuple[str, object], object] = {}
        self.events = events if events is not None else EventIndex(data.events)

    def with_stream(self, stream: StreamState, data: SnapshotData, touched: set[str],
                    touched_events: set[tuple[str, str]] | None = None) -> Snapshot:
        """Return a snapshot of data derived from this one; read caches of untouched dimensions are kept, and
        so are the event index's caches of untouched (campaign, event)s (all of them are dropped when events
        changed and touched_events is None)."""
        if data.events is self.data.events:
            events = self.events
        elif touched_events is not None:
            events = self.events.derived(data.events, touched_events)
        else:
            events = EventIndex(data.events)
        same_ids = len(data.ids) == len(self.ids)
        # value codes are an array over every user: new users make them too short
        cache = self.cache.derived(lambda key: key[1] in touched or (key[0] == "value_codes" and not same_ids))
        derived = Snapshot(data, stream, events, cache)
        derived.loaded_at = self.loaded_at
        derived._bounds = {d: b for d, b in self._bounds.items() if d not in touched}
        derived._memo = {k: v for k, v in self._memo.items() if k[0] not in touched}
        return derived

    @property
    def integer_ids(self) -> bool:
        """True when user IDs are int64 (a stream batch must then send integers)."""
        return self.ids.id_type == "int64" and len(self.ids) > 0

    @property
    def unsaved(self) -> bool:
        """True when no version on disk holds this state (a checkpoint would write one)."""
        return self.stream.sequence != self.stream.saved_sequence

    def has_dimension(self, name: str) -> bool:
        """True when the dimension exists."""
        return name in self.tags

    def tag(self, dimension: str, value: str) -> FrozenBitMap:
        """Return the bitmap of dimension=value (empty for an unknown value, or dimension on a cluster shard)."""
        return self.tags.get(dimension, {}).get(value, EMPTY)

    def suggest_dimension(self, name: str) -> str | None:
        """Return the known dimension closest to name, if any is close."""
        return closest_name(name, list(self.tags))

    def is_numeric(self, name: str) -> bool:
        """True when name is a numeric field (a bit-sliced index), not a tag dimension."""
        kind = self.kinds.get(name)
        return kind is not None and kind.numeric

    def is_single_valued(self, name: str) -> bool:
        """True when each user holds at most one value of the dimension (its value bitmaps are disjoint)."""
        return self.kinds.get(name) is DimensionKind.SINGLE

    def numeric(self, name: str) -> Field:
        """Return the slices of a numeric field (cached; the caller checked is_numeric)."""
        cached = self._fields.get(name)
        if cached is None:
            cached = Field.of(name, self.kinds[name], self.tags.get(name, {}), self.cache)
            with self._lock:
                self._fields[name] = cached
        return cached

    def bounds(self, name: str) -> tuple[int, int] | None:
        """Return (min, max) of a numeric field over all users (cached), or None when no user has a value."""
        if name not in self._bounds:
            field = self.numeric(name)
            found = (field.minimum(field.exists), field.maximum(field.exists)) if field.exists else None
            with self._lock:
                self._bounds[name] = found
        return self._bounds[name]

    def cache_bytes(self) -> dict[str, int]:
        """Return what each read cache of this snapshot holds now, in bytes."""
        with self._lock:
            memo = sum(value_bytes(v) for v in self._memo.values())
        return {**self.cache.bytes_by_cache(BUDGETED_CACHES), "numeric_figures": memo,
                "event_unions": self.events.cached_bytes()}

    def memo(self, dimension: str, key: object, build: Callable[[], T]) -> T:
        """Return a figure of one dimension built once per snapshot (dropped when a batch touches the dimension).

        Bounded: past MEMO_ENTRIES the memo starts over, so odd requests cannot grow it without end.
        """
        found = self._memo.get((dimension, key))
        if found is None:
            found = build()
            with self._lock:
                if len(self._memo) >= MEMO_ENTRIES:
                    self._memo.clear()
                self._memo[(dimension, key)] = found
        return found  # type: ignore[return-value]

    def any_of(self, dimension: str) -> FrozenBitMap:
        """Return the users with at least one value of a dimension (cached); a numeric field's users with a value."""
        if self.is_numeric(dimension):
            return self.tag(dimension, "exists")

        def union() -> FrozenBitMap:
            values = list(self.tags.get(dimension, {}).values())
            return FrozenBitMap(BitMap.union(*values) if values else BitMap())

        return self.cache.cached(("dimension_users", dimension, None), union, bitmap_bytes)

    def users_with_value(self, dimension: str) -> int:
        """Return how many users hold at least one value of a dimension (memoized as a number: listing dimensions
        kept every dimension's union bitmap, 19 MB at 10M users, to read its length)."""
        if self.is_numeric(dimension):
            return len(self.any_of(dimension))
        cached = self.cache.get(("dimension_users", dimension, None))
        if isinstance(cached, FrozenBitMap):
            return len(cached)
        values = self.tags.get(dimension, {})

        def count() -> int:
            if self.is_single_valued(dimension):  # disjoint values: their sizes add up
                return sum(len(bm) for bm in values.values())
            return len(BitMap.union(*values.values())) if values else 0

        return self.memo(dimension, "users with a value", count)

    def value_codes(self, dimension: str, lookups: int) -> ValueCodes | None:
        """Return per-user value codes of a single-valued dimension with many values, for counting `lookups`
        audience users per value.

        None when intersections are the better plan (codes_pay), and when the codes would not fit the cache
        budget (built for one call, they cost more than the intersections).
        """
        tags = self.tags.get(dimension, {})
        if self.kinds.get(dimension) is not DimensionKind.SINGLE or len(tags) < CODES_MIN_VALUES:
            return None
        coded, rest = self.memo(dimension, "coded values", lambda: coded_values(tags))
        if not codes_pay(lookups, len(tags), self.users_with_value(dimension), len(self.ids), rest=len(rest)):
            return None
        dtype = code_dtype(len(coded))
        if not self.cache.fits(len(self.ids) * np.dtype(dtype).itemsize):
            return None

        def build() -> ValueCodes:
            codes = np.zeros(len(self.ids), dtype=dtype)
            for i, value in enumerate(coded):
                codes[np.frombuffer(tags[value].to_array(), dtype=np.uint32)] = i + 1
            rest_users = tuple(tags[v] for v in rest)
            return ValueCodes(codes, coded, tuple(rest), rest_users,
                              frozen(BitMap.union(*rest_users)) if rest_users else EMPTY)

        return self.cache.cached(("value_codes", dimension, None), build, lambda c: c.nbytes)


@dataclass(frozen=True, slots=True, eq=False)  # arrays do not compare as one value
class ValueCodes:
    """A single-valued dimension as one code per user: codes[user] is i + 1 for coded[i], 0 for no value.

    The values in `rest`, the smallest, have no code (they read as 0): left out so that the codes of a dimension
    with a few more than 255 values fit one byte, they are counted by intersection.
    """

    codes: np.ndarray
    coded: list[str]
    rest: tuple[str, ...] = ()
    rest_users: tuple[AbstractBitMap, ...] = ()  # the snapshot's bitmaps of rest, in order
    rest_union: AbstractBitMap = EMPTY  # their users together: an audience meets it first, then each value

    @property
    def values(self) -> list[str]:
        """Return the values in the order of counts(): the coded ones, then the rest."""
        return [*self.coded, *self.rest]

    @property
    def nbytes(self) -> int:
        """Return the bytes the codes and the rest's union hold (the rest's own bitmaps are the snapshot's)."""
        return int(self.codes.nbytes) + bitmap_bytes(self.rest_union)

    def counts(self, ids: np.ndarray, users: AbstractBitMap) -> np.ndarray:
        """Return how many of `users` (whose dense IDs, as uint32, are `ids`) hold each of values()."""
        coded = np.bincount(self.codes[ids], minlength=len(self.coded) + 1)[1:]
        if not self.rest:
            return coded
        among = users & self.rest_union  # a few users (the rest is small): one intersection per value is cheap
        return np.concatenate([coded, np.array([among.intersection_cardinality(bm) if among else 0
                                                for bm in self.rest_users], dtype=coded.dtype)])


def coded_values(tags: Mapping[str, AbstractBitMap]) -> tuple[list[str], list[str]]:
    """Return (values given codes, values left to intersections) of a single-valued dimension.

    Every value gets a code unless one byte per user would then not do: past 255 values the largest 255 get codes
    when the rest hold at most REST_SHARE of the dimension's users (city at 10M users: 300 values, the smallest
    45 hold 2.3%, and the codes take 10 MB instead of 20).
    """
    if len(tags) <= UINT8_CODES:
        return sorted(tags), []
    ranked = sorted(tags, key=lambda v: (-len(tags[v]), v))
    coded, rest = ranked[:UINT8_CODES], ranked[UINT8_CODES:]
    if sum(len(tags[v]) for v in rest) > REST_SHARE * sum(len(bm) for bm in tags.values()):
        return sorted(tags), []
    return sorted(coded), sorted(rest)


def code_dtype(values: int) -> type[np.unsignedinteger]:
    """Return the smallest unsigned type that holds codes 0..values."""
    return np.uint8 if values <= UINT8_CODES else np.uint16 if values < 65535 else np.uint32


def codes_pay(lookups: int, values: int, value_users: int, users: int, *, rest: int = 0) -> bool:
    """True when counting `lookups` audience users per value through per-user codes (a gather and a bincount)
    should beat one intersection per value, for a dimension whose `values` hold `value_users` of `users`; `rest`
    of the values have no code: the audience meets their union once, then each of them.

    Estimates from Roaring's container kinds, assuming evenly spread users; measured at 10M users
    (bench/README.md, "Issue 14, fourth pass"). Only speed depends on it, never an answer.
    """
    containers = max(1, -(-users // CONTAINER_IDS))
    pairs = values * containers
    audience, value = lookups / containers, value_users / pairs  # IDs per container, each side
    if audience >= ARRAY_MAX and value >= ARRAY_MAX:
        pair_ns = BITSETS_NS
    elif audience >= ARRAY_MAX or value >= ARRAY_MAX:
        pair_ns = PROBE_NS * min(audience, value)  # each ID of the array side is probed in the bitset
    else:
        pair_ns = MERGE_NS * (audience + value)
    codes = lookups * CODE_NS
    if rest:  # the audience merged with the rest's union, then what is left of it meets each rest value
        codes += lookups * MERGE_NS + (rest + 1) * containers * PAIR_NS
    return codes < pairs * (PAIR_NS + pair_ns)


def closest_name(name: str, known: list[str]) -> str | None:
    """Return the known name closest to name (a case-insensitive match first), if any is close."""
    folded = {d.casefold(): d for d in known}
    if name.casefold() in folded:
        return folded[name.casefold()]
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return close[0] if close else None


def empty_snapshot(wal_position: int = 0, cache: CacheBudget | None = None) -> Snapshot:
    """Return the state of a data dir with no version yet (a stream may start from nothing)."""
    manifest = Manifest(version=0, built_at=0.0, shard_bits=20, shards=0, users=0, id_count=0, id_type="string",
                        dimensions={}, tags=[], files={})
    return Snapshot(SnapshotData(manifest, IdDictionary.empty(), FrozenBitMap(), {}, {}),
                    StreamState(wal_position=wal_position), cache=cache)


class SnapshotRef:
    """The one mutable thing: the current snapshot, swapped by a single assignment (only the Engine swaps it)."""

    def __init__(self) -> None:
        self._current: Snapshot | None = None

    @property
    def current(self) -> Snapshot:
        """Return the served snapshot, or raise NotReadyError before the first one."""
        snap = self._current
        if snap is None:
            raise NotReadyError()
        return snap

    @property
    def loaded(self) -> bool:
        """True once a snapshot is served."""
        return self._current is not None

    def swap(self, snapshot: Snapshot) -> Snapshot | None:
        """Publish a new snapshot; return the previous one."""
        previous, self._current = self._current, snapshot
        return previous
