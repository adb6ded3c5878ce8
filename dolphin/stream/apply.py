"""Applying validated mutation batches to a snapshot, copy-on-write and vectorised per tag.

`apply_batches` returns a new Snapshot that shares every untouched bitmap with the old one, so readers of the
old snapshot are never disturbed and publishing is one reference assignment. The work is grouped with Polars:
per user only mutations after its last DELETE_USER count; per (user, tag) only the last ADD/REMOVE counts;
per (user, dimension) only the last SET counts. That is exactly the result of applying the mutations one by
one, in order, and it turns N mutations into one bitmap operation per touched tag.

Semantics: SET moves a user of a single-valued dimension out of its old value and into the new one; ADD and
REMOVE are for multi-valued dimensions; SET_NUMBER and CLEAR_NUMBER set and clear a user's value of a numeric
field, whose slices are rewritten for the users the batch names (per (user, field) only the last counts);
ADD_EVENT adds the user to the reach bitmap of (campaign, event, day); with a keep-days window, events older
than the window (counted back from the newest event day, the batch's included) are dropped and days that leave
the window are removed. DELETE_USER removes the user from every tag, every slice, every event bitmap and the
population (its dense ID stays reserved, so saved audiences keep meaning). A SET on an unknown dimension
creates a single-valued one, an ADD a multi-valued one, a SET_NUMBER a numeric field. An unknown user gets a
new dense ID; only SET, ADD, SET_NUMBER and ADD_EVENT make a user part of the population.
"""

from __future__ import annotations

import dataclasses
import datetime
import itertools
import logging
from collections.abc import Callable

import numpy as np
import polars as pl
from pyroaring import AbstractBitMap, BitMap, FrozenBitMap

from dolphin.engine.events import EventIndex
from dolphin.engine.frozen import frozen
from dolphin.engine.snapshot import Snapshot, StreamState
from dolphin.errors import InvalidArgumentError
from dolphin.storage import DimensionKind, IdDictionary, bitmap_from_array
from dolphin.storage.numbers import BIT_NAMES, EXISTS, NEGATIVE, parse_value, slice_bitmaps
from dolphin.stream.batches import NUMBER_OPS, MutationBatch, MutationOp
from dolphin.stream.live_codes import DimensionCodes, LiveCodes
from dolphin.stream.read_priority import no_pause

log = logging.getLogger("dolphin.stream")
EMPTY = FrozenBitMap()
Events = dict[tuple[str, str], dict[str, FrozenBitMap]]
JOINING = [MutationOp.ADD, MutationOp.SET, MutationOp.SET_NUMBER, MutationOp.ADD_EVENT]


def _user_series(snap: Snapshot, batches: list[MutationBatch]) -> pl.Series:
    """Return the batches' user IDs as one column: Int64 when they came as integers (no text to parse)."""
    if all(b.int_ids is not None for b in batches) and snap.integer_ids:
        return pl.Series("user_id", np.concatenate([b.int_ids for b in batches if b.int_ids is not None]),
                         dtype=pl.Int64)
    series = pl.Series("user_id", list(itertools.chain.from_iterable(b.user_texts() for b in batches)),
                       dtype=pl.String)
    if snap.integer_ids:
        try:
            series = series.cast(pl.Int64, strict=True)
        except pl.exceptions.PolarsError:  # callers check with batches.check_int_ids first; this is the guard
            raise InvalidArgumentError("a user_id is not an integer; this data dir's user IDs are int64") from None
    return series


def _text_columns(batches: list[MutationBatch]) -> tuple[pl.Series, pl.Series]:
    """Return the batches' dimensions and values as String columns: gathered from their string tables when
    every batch came as columns (no Python string per row), else from the lists."""
    coded = [b.codes for b in batches if b.codes is not None]
    if len(coded) < len(batches):
        return (pl.Series(list(itertools.chain.from_iterable(b.dimensions for b in batches)), dtype=pl.String),
                pl.Series(list(itertools.chain.from_iterable(b.values for b in batches)), dtype=pl.String))
    tables, dims, values, base = [], [], [], 0
    for codes in coded:  # one table for the group: each batch's indexes shifted past the tables before it
        tables.extend(codes.strings)
        dims.append(codes.dimensions + base)
        values.append(codes.values + base)
        base += len(codes.strings)
    table = pl.Series(tables, dtype=pl.String)
    return table.gather(np.concatenate(dims)), table.gather(np.concatenate(values))


def _frame(snap: Snapshot, batches: list[MutationBatch]) -> tuple[pl.DataFrame, IdDictionary]:
    users = _user_series(snap, batches)
    dense, ids = snap.ids.encode(users)
    dims, values = _text_columns(batches)
    frame = pl.DataFrame({
        "pos": np.arange(len(users), dtype=np.uint32),
        "user": dense,
        "op": np.concatenate([b.ops for b in batches]),
        "dim": dims,
        "value": values,
        "date": _dates(batches),
    })
    return frame, ids


def _dates(batches: list[MutationBatch]) -> pl.Series:
    if all(b.dates is None for b in batches):  # no events: no Python string per row
        return pl.repeat("", sum(len(b) for b in batches), dtype=pl.String, eager=True)
    return pl.Series(list(itertools.chain.from_iterable(b.dates or itertools.repeat("", len(b)) for b in batches)),
                     dtype=pl.String)


def _users(frame: pl.DataFrame) -> BitMap:
    return bitmap_from_array(frame["user"].to_numpy())


class _Tags:
    """The new tag table: a shallow copy whose touched dimensions and values are replaced, never mutated."""

    def __init__(self, snap: Snapshot, pause: Callable[[], None]) -> None:
        self.before = snap.tags
        self.tags: dict[str, dict[str, FrozenBitMap]] = dict(snap.tags)
        self.touched: set[str] = set()
        self.changed: set[tuple[str, str]] = set()
        self.pause = pause  # called before each tag is replaced: reads in flight go first (read_priority.py)

    def get(self, dimension: str, value: str) -> FrozenBitMap:
        return self.tags.get(dimension, {}).get(value, EMPTY)

    def put(self, dimension: str, value: str, bitmap: AbstractBitMap, paused: bool = False) -> None:
        if not paused:  # paused: the caller paused before building it
            self.pause()
        if dimension not in self.touched:
            self.tags[dimension] = dict(self.tags.get(dimension, {}))
            self.touched.add(dimension)
        self.changed.add((dimension, value))
        if bitmap:
            self.tags[dimension][value] = frozen(bitmap)
        else:
            self.tags[dimension].pop(value, None)

    def delete_users(self, deleted: BitMap) -> None:
        for dimension, values in list(self.tags.items()):
            for value, bm in list(values.items()):
                if bm.intersect(deleted):
                    self.put(dimension, value, bm - deleted)


def _bitmaps(users: pl.Series, pause: Callable[[], None]) -> list[BitMap]:
    """Return one bitmap per list of dense IDs (a List column from a group_by), pausing between them.

    The lists are cut from one exploded array: reading them one by one as Series cost ~10 us each in Polars,
    7 ms of a 5,000-mutation group's 600 lists."""
    lengths = users.list.len().fill_null(0).to_numpy()
    flat = users.explode().drop_nulls().to_numpy()
    out = []
    for part in np.split(flat, np.cumsum(lengths)[:-1]) if len(lengths) else []:
        pause()
        out.append(bitmap_from_array(part) if len(part) else BitMap())
    return out


def _apply_multi(tags: _Tags, frame: pl.DataFrame) -> None:
    multi = frame.filter(pl.col("op").is_in([MutationOp.ADD, MutationOp.REMOVE]))
    if multi.is_empty():
        return
    last = multi.sort("pos").unique(["user", "dim", "value"], keep="last", maintain_order=False)
    grouped = last.group_by(["dim", "value"]).agg(
        pl.col("user").filter(pl.col("op") == MutationOp.ADD).alias("adds"),
        pl.col("user").filter(pl.col("op") == MutationOp.REMOVE).alias("removes"),
    )
    for dimension, value, adds, removes in zip(grouped["dim"].to_list(), grouped["value"].to_list(),
                                               _bitmaps(grouped["adds"], tags.pause),
                                               _bitmaps(grouped["removes"], tags.pause), strict=True):
        old = tags.get(dimension, value)
        new = (old | adds) - removes if removes else old | adds
        if new != old:
            tags.put(dimension, value, new)


def _apply_single(tags: _Tags, frame: pl.DataFrame, codes: LiveCodes | None, deleted: np.ndarray,
                  users: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Apply the SETs; return, per dimension rewritten through live codes, the users that changed value and their
    new codes (for LiveCodes.commit)."""
    sets = frame.filter(pl.col("op") == MutationOp.SET)
    moves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if sets.is_empty():
        return moves
    last = sets.sort("pos").unique(["user", "dim"], keep="last", maintain_order=False)
    for (dim,), part in last.group_by("dim"):
        book = codes.of(str(dim), tags.before.get(str(dim)), users, tags.pause) if codes is not None else None
        moved = _rewrite_moved(tags, str(dim), part, book, deleted) if book is not None else None
        if moved is not None:
            moves[str(dim)] = moved
            continue
        if book is not None and codes is not None:
            log.error("live codes of %s disagreed with its bitmaps; they are dropped and the group moves users "
                      "the old way", dim)
            codes.forget(str(dim))
        _rewrite_every_value(tags, str(dim), part)
    return moves


def _rewrite_every_value(tags: _Tags, dim: str, part: pl.DataFrame) -> None:
    """Move a dimension's SET users without knowing their old values: out of every value, into the new ones."""
    per_value = part.group_by("value").agg(pl.col("user"))
    adds = dict(zip(per_value["value"].to_list(), _bitmaps(per_value["user"], tags.pause), strict=True))
    moved = bitmap_from_array(part["user"].to_numpy())
    for value, bm in list(tags.tags.get(dim, {}).items()):
        if value not in adds and bm.intersect(moved):
            tags.put(dim, value, bm - moved)
    for value, users in adds.items():
        old = tags.get(dim, value)
        new = (old - moved) | users
        if new != old:
            tags.put(dim, value, new)


def _by_code(users: np.ndarray, codes: np.ndarray, pause: Callable[[], None]) -> dict[int, BitMap]:
    """Return the users of each nonzero code as a bitmap, pausing between them."""
    if not len(codes):
        return {}
    order = np.argsort(codes, kind="stable")
    codes, users = codes[order], users[order]
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    ends = np.r_[starts[1:], len(codes)]
    out = {}
    for a, b in zip(starts, ends, strict=True):
        if codes[a]:
            pause()
            out[int(codes[a])] = bitmap_from_array(users[a:b])
    return out


def _rewrite_moved(tags: _Tags, dim: str, part: pl.DataFrame, book: DimensionCodes,
                   deleted: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Move a dimension's SET users out of their old values (from live codes) and into the new ones, rewriting
    only those values; return the users that changed value and their new codes, or None, with nothing changed,
    when a value's bitmap disagrees with the codes."""
    users = part["user"].to_numpy().astype(np.uint32)
    values = part["value"]
    mapping = {v: book.code_of(v) for v in values.unique().to_list()}
    new = values.replace_strict(mapping, return_dtype=pl.UInt32).to_numpy()
    old = book.old(users)
    if len(deleted):  # deleted earlier in the group: delete_users took them out of their old values already
        old[np.isin(users, deleted)] = 0
    changed = old != new
    users, old, new = users[changed], old[changed], new[changed]
    held = old != 0
    # A value's users flip: those leaving are in its bitmap and those joining are not (the codes say so), so
    # one XOR over the bitmap rewrites it, where `(bm - leaving) | joining` passed over it twice.
    flips = _by_code(np.concatenate([users[held], users]), np.concatenate([old[held], new]), tags.pause)
    net = np.bincount(new, minlength=len(book.values) + 1).astype(np.int64)
    net -= np.bincount(old[held], minlength=len(net))
    rewritten = []
    for code, flipped in sorted(flips.items()):
        value = book.values[code - 1]
        before = tags.get(dim, value)
        tags.pause()
        after = before ^ flipped
        if len(after) != len(before) + net[code]:  # the codes are wrong: a flip removed a joiner or added a leaver
            return None
        rewritten.append((value, after))
    for value, after in rewritten:
        tags.put(dim, value, after, paused=True)
    return users, new


def _apply_numbers(tags: _Tags, frame: pl.DataFrame, kinds: dict[str, DimensionKind]) -> None:
    """Rewrite the slices of the numeric fields the batch sets or clears values of."""
    numbers = frame.filter(pl.col("op").is_in(list(NUMBER_OPS)))
    if numbers.is_empty():
        return
    last = numbers.sort("pos").unique(["user", "dim"], keep="last", maintain_order=False)
    for (field,), rows in last.group_by(["dim"]):
        if field not in kinds:
            continue  # CLEAR_NUMBER of a field nothing created: nothing to clear
        touched = _users(rows)
        setting = rows.filter(pl.col("op") == MutationOp.SET_NUMBER)
        kind = kinds[str(field)]
        values = np.array([parse_value(kind, v) for v in setting["value"].to_list()], dtype=np.int64)
        new = slice_bitmaps(setting["user"].to_numpy(), values)
        names = set(new) | {n for n in tags.tags.get(str(field), {}) if n in (EXISTS, NEGATIVE, *BIT_NAMES)}
        for name in names:
            old = tags.get(str(field), name)
            updated = (old - touched) | new.get(name, EMPTY) if old.intersect(touched) else old | new.get(name, EMPTY)
            if updated != old:
                tags.put(str(field), name, updated)


def _delete_from_events(events: Events, deleted: BitMap) -> tuple[Events, set[tuple[str, str, str]]]:
    """Return events without the deleted users, and the days that changed."""
    changed = {(c, e, day) for (c, e), days in events.items() for day, bm in days.items() if bm.intersect(deleted)}
    if not changed:
        return events, changed
    out = dict(events)
    for campaign, event in {(c, e) for c, e, _ in changed}:
        days = dict(out[(campaign, event)])
        for day, bm in list(days.items()):
            if (campaign, event, day) in changed:
                left = bm - deleted
                if left:
                    days[day] = frozen(left)
                else:
                    del days[day]
        out[(campaign, event)] = days
    return out, changed


def window_start(newest_day: str, keep_days: int) -> str:
    """Return the oldest ISO day a keep-days window counted back from newest_day holds ("" without a window)."""
    if keep_days <= 0 or not newest_day:
        return ""
    return (datetime.date.fromisoformat(newest_day) - datetime.timedelta(days=keep_days - 1)).isoformat()


def event_windows(batches: list[MutationBatch], newest_day: str, keep_days: int) -> tuple[list[str], str]:
    """Return each batch's window start ("" without a window) and the newest event day after them all.

    A batch's window counts back from the newest event day so far, its own events included, so what is dropped
    depends on the batches alone, never on how they were grouped into one apply (a replay groups differently).
    """
    starts = []
    for batch in batches:
        if keep_days > 0 and batch.dates is not None:
            days = set(itertools.compress(batch.dates, batch.ops == MutationOp.ADD_EVENT))
            newest_day = max(newest_day, *days) if days else newest_day
        starts.append(window_start(newest_day, keep_days))
    return starts, newest_day


def _apply_events(events: Events, index: EventIndex, frame: pl.DataFrame, oldest: str, pause: Callable[[], None]
                  ) -> tuple[Events, set[tuple[str, str, str]]]:
    """Return events with the ADD_EVENTs added and days before oldest removed, and the days that changed."""
    adds = frame.filter(pl.col("op") == MutationOp.ADD_EVENT)
    changed: set[tuple[str, str, str]] = set()
    out = events
    if not adds.is_empty():
        out = dict(events)
        copied: set[tuple[str, str]] = set()
        grouped = adds.group_by(["dim", "value", "date"]).agg(pl.col("user"))
        keys = zip(grouped["dim"].to_list(), grouped["value"].to_list(), grouped["date"].to_list(), strict=True)
        for (campaign, event, day), users in zip(keys, _bitmaps(grouped["user"], pause), strict=True):
            old = out.get((campaign, event), {}).get(day, EMPTY)
            if users.issubset(old):
                continue
            if (campaign, event) not in copied:
                out[(campaign, event)] = dict(out.get((campaign, event), {}))
                copied.add((campaign, event))
            out[(campaign, event)][day] = frozen(old | users)
            changed.add((campaign, event, day))
    if oldest:  # days left the window: the index's oldest ones, or days this group added before a later batch
        stale = {key for key, days in index.days.items() if days[0] < oldest}
        stale |= {(c, e) for c, e, day in changed if day < oldest}
        out = dict(out) if stale and out is events else out
        for key in stale:
            if key not in out:  # a DELETE_USER emptied it
                continue
            kept = {day: bm for day, bm in out[key].items() if day >= oldest}
            changed.update((*key, day) for day in out[key] if day < oldest)
            if kept:
                out[key] = kept
            else:
                del out[key]
    return out, changed


def apply_batches(
    snap: Snapshot, batches: list[MutationBatch], kinds: dict[str, DimensionKind], stream: StreamState,
    keep_days: int = 0, pause: Callable[[], None] = no_pause, codes: LiveCodes | None = None,
) -> Snapshot:
    """Return a new snapshot with validated batches applied in order; `kinds` are the dimensions after them.

    keep_days > 0 is the window of event days (see the module docstring). pause is called between steps
    (`read_priority.WriterTurn.pause` on the writer thread). codes are the writer's live codes (live_codes.py):
    with them a SET rewrites only the values its users leave and join; they are committed once the result is
    complete.
    """
    if not any(len(b) for b in batches):
        return snap.with_stream(stream, dataclasses.replace(snap.data, dimensions=kinds), set())
    frame, ids = _frame(snap, batches)
    deletes = frame.filter(pl.col("op") == MutationOp.DELETE_USER).group_by("user").agg(pl.col("pos").max())
    tags = _Tags(snap, pause)
    population: FrozenBitMap = snap.population
    events = snap.data.events
    changed_days: set[tuple[str, str, str]] = set()
    starts, newest = event_windows(batches, snap.events.newest_day, keep_days)
    oldest = window_start(newest, keep_days)
    if oldest:  # events before their batch's window are dropped (the ack counted them)
        start = np.repeat(np.array(starts, dtype=object), [len(b) for b in batches])
        frame = frame.with_columns(pl.Series("start", start, dtype=pl.String)).filter(
            (pl.col("op") != MutationOp.ADD_EVENT) | (pl.col("date") >= pl.col("start"))).drop("start")
    gone = np.zeros(0, dtype=np.uint32)
    if not deletes.is_empty():
        deleted = _users(deletes)
        gone = np.frombuffer(deleted.to_array(), dtype=np.uint32)
        frame = (frame.join(deletes.rename({"pos": "cut"}), on="user", how="left")
                 .filter(pl.col("cut").is_null() | (pl.col("pos") > pl.col("cut"))))
        tags.delete_users(deleted)
        events, changed_days = _delete_from_events(events, deleted)
        population = population - deleted
    _apply_multi(tags, frame)
    moves = _apply_single(tags, frame, codes, gone, len(ids))
    _apply_numbers(tags, frame, kinds)
    events, added_days = _apply_events(events, snap.events, frame, oldest, pause)
    changed_days |= added_days
    joined = frame.filter(pl.col("op").is_in(JOINING))
    if not joined.is_empty():
        population = population | _users(joined)
    data = dataclasses.replace(
        snap.data, ids=ids, population=population,
        tags={d: tags.tags.get(d, {}) for d in kinds}, dimensions=kinds, events=events,
    )
    dirty = dict(stream.dirty)
    dirty.update(dict.fromkeys(tags.changed, stream.sequence))
    dirty_events = dict(stream.dirty_events)
    dirty_events.update(dict.fromkeys(changed_days, stream.sequence))
    stream = dataclasses.replace(stream, dirty=dirty, dirty_events=dirty_events)
    result = snap.with_stream(stream, data, tags.touched, {(c, e) for c, e, _ in changed_days})
    if codes is not None:  # last: a group that fails leaves the codes describing the snapshot it started from
        codes.commit(snap.tags, data.tags, gone, moves, len(ids))
    return result
