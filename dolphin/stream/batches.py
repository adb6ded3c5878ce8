"""A batch of stream mutations: its columnar form, its validation, and its encoding as one log record.

A batch is kept as columns (op codes, user IDs, dimensions, values, dates) because everything done with it,
from validation to the log record to applying it, works per column in C rather than per mutation in Python. An
ADD_EVENT row keeps its campaign in the dimension column and its event in the value column (they are names of
the same length limits and rules), and its ISO day in the date column, which is "" on every other row. The log
record is::

    head: format u16 | offset i64 | first_offset i64 | appended_at f64 | count u32 | source length u16
    source (UTF-8) | ops (count bytes) | 3 x (length u32 + NUL-joined UTF-8 text: user IDs, dimensions, values)
    format 2 only: length u32 + NUL-joined dates

Format 2 is written only for batches with events, so a log without events stays readable by older builds. NUL
is not allowed in any field, which is what makes the NUL-joined columns unambiguous.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import re
import struct
import unicodedata
from dataclasses import dataclass, field

import numpy as np

from dolphin.errors import InvalidArgumentError, QueryLimitError
from dolphin.storage import DimensionKind
from dolphin.storage.numbers import kind_of_literal, parse_value

RECORD_FORMAT = 1
EVENT_RECORD_FORMAT = 2  # a record with a date column
INT_IDS_FLAG = 0x100  # or'ed into the format: the user column is int64 little-endian, 8 bytes per mutation
HEAD = struct.Struct("<HqqdIH")
LENGTH = struct.Struct("<I")
MAX_TEXT = 1024  # characters of a user ID, dimension or value
MAX_SOURCE = 256
NO_OFFSET = -1


class MutationOp(enum.IntEnum):
    """What a mutation does; the numbers are the wire enum's."""

    ADD = 1
    REMOVE = 2
    SET = 3
    DELETE_USER = 4
    SET_NUMBER = 5
    CLEAR_NUMBER = 6
    ADD_EVENT = 7


NUMBER_OPS = (MutationOp.SET_NUMBER, MutationOp.CLEAR_NUMBER)
LAST_OP = MutationOp.ADD_EVENT


@dataclass(frozen=True, slots=True)
class Mutation:
    """One change: op on user_id, with dimension and value for ADD, REMOVE, SET and SET_NUMBER; ADD_EVENT keeps
    its campaign in dimension, its event in value and its ISO day in date."""

    user_id: str
    op: MutationOp
    dimension: str = ""
    value: str = ""
    date: str = ""

    @staticmethod
    def event(user_id: str, campaign: str, event: str, date: str) -> Mutation:
        """Return the ADD_EVENT of one user, campaign, event and ISO day."""
        return Mutation(user_id, MutationOp.ADD_EVENT, campaign, event, date)


@dataclass(frozen=True, slots=True)
class StringCodes:
    """A columnar batch's string table and, per row, the index of its dimension and its value in it."""

    strings: list[str]
    dimensions: np.ndarray  # int64 index per row
    values: np.ndarray

    def used(self, column: np.ndarray) -> list[str]:
        """Return the distinct strings a column refers to (a presence count: np.unique's sort was 13% of the
        writer thread)."""
        return [self.strings[i] for i in np.flatnonzero(np.bincount(column, minlength=len(self.strings))).tolist()]


@dataclass(slots=True)
class MutationBatch:
    """Mutations from one source up to `offset` (the last source offset in the batch), as columns."""

    source: str
    offset: int
    ops: np.ndarray  # uint8 MutationOp numbers
    user_ids: list[str]
    dimensions: list[str]  # the campaign of an ADD_EVENT
    values: list[str]  # the event of an ADD_EVENT
    first_offset: int = NO_OFFSET  # the first source offset in the batch, when the producer says
    appended_at: float = 0.0  # wall-clock seconds when the batch entered the log
    wire_bytes: int = field(default=0, compare=False)
    dates: list[str] | None = None  # ISO day of each ADD_EVENT ("" elsewhere); None: the batch has no events
    # int64 user IDs sent as integers (MutationColumns.int_user_ids), then user_ids is empty: no text per user
    int_ids: np.ndarray | None = None
    # A batch sent as columns keeps its string table and each row's index into it, so the text and kind checks
    # look at each distinct string once rather than at every row; None for rows, logged and picked batches.
    codes: StringCodes | None = field(default=None, compare=False)

    def __len__(self) -> int:
        return len(self.ops)

    def user_texts(self) -> list[str]:
        """Return the user IDs as text, however they were sent (slow for integers; for messages and tests)."""
        return self.user_ids if self.int_ids is None else [str(u) for u in self.int_ids.tolist()]

    @staticmethod
    def of(source: str, offset: int, mutations: list[Mutation], first_offset: int = NO_OFFSET) -> MutationBatch:
        """Build a batch from Mutation values (convenient in tests and small producers)."""
        dates = [m.date for m in mutations]
        return MutationBatch(
            source, offset, np.array([int(m.op) for m in mutations], dtype=np.uint8),
            [m.user_id for m in mutations], [m.dimension for m in mutations], [m.value for m in mutations],
            first_offset, dates=dates if any(dates) else None,
        )

    def mutations(self) -> list[Mutation]:
        """Return the batch as Mutation values (slow; for tests and error messages)."""
        dates = self.dates or [""] * len(self)
        return [Mutation(u, MutationOp(int(o)), d, v, day) for o, u, d, v, day in zip(
            self.ops.tolist(), self.user_texts(), self.dimensions, self.values, dates, strict=True)]

    def picked(self, rows: list[int]) -> MutationBatch:
        """Return the batch with only the given rows, in that order (same source and offsets)."""
        return dataclasses.replace(
            self, codes=None,
            ops=self.ops[rows], user_ids=[] if self.int_ids is not None else [self.user_ids[i] for i in rows],
            dimensions=[self.dimensions[i] for i in rows], values=[self.values[i] for i in rows],
            dates=None if self.dates is None else [self.dates[i] for i in rows],
            int_ids=None if self.int_ids is None else self.int_ids[rows])


def _is_nfc(texts: list[str]) -> bool:
    return unicodedata.is_normalized("NFC", "\0".join(texts))  # NUL never composes: each text is checked alone


def _nfc(column: list[str]) -> list[str]:
    if _is_nfc(column):
        return column  # the common case, decided in C
    return [unicodedata.normalize("NFC", text) for text in column]


def normalized(batch: MutationBatch) -> MutationBatch:
    """Return the batch with dimensions and values NFC-normalised, as the loader and the parser normalise them.

    User IDs are opaque and kept as sent (the loader keeps them as read, too).
    """
    if batch.codes is not None and _is_nfc(batch.codes.strings):
        return batch  # every row's text is one of the table's
    dims, values = _nfc(batch.dimensions), _nfc(batch.values)
    if dims is batch.dimensions and values is batch.values:
        return batch
    return dataclasses.replace(batch, dimensions=dims, values=values, codes=None)


def encode_record(batch: MutationBatch) -> bytes:
    """Return the log payload of a batch."""
    source = batch.source.encode()
    fmt = (RECORD_FORMAT if batch.dates is None else EVENT_RECORD_FORMAT) | (
        INT_IDS_FLAG if batch.int_ids is not None else 0)
    parts = [HEAD.pack(fmt, batch.offset, batch.first_offset, batch.appended_at, len(batch),
                       len(source)), source, np.ascontiguousarray(batch.ops, dtype=np.uint8).tobytes()]
    columns = [batch.dimensions, batch.values] + ([] if batch.dates is None else [batch.dates])
    if batch.int_ids is None:
        columns.insert(0, batch.user_ids)
    else:
        raw = np.ascontiguousarray(batch.int_ids, dtype="<i8").tobytes()
        parts += [LENGTH.pack(len(raw)), raw]
    for column in columns:
        blob = "\0".join(column).encode()
        parts += [LENGTH.pack(len(blob)), blob]
    return b"".join(parts)


def _column(payload: bytes, at: int, count: int) -> tuple[list[str], int]:
    (length,) = LENGTH.unpack_from(payload, at)
    at += LENGTH.size
    text = payload[at : at + length].decode()
    values = text.split("\0") if count else []
    if len(values) != count:
        raise ValueError(f"column holds {len(values)} values, expected {count}")
    return values, at + length


def decode_record(payload: bytes) -> MutationBatch:
    """Rebuild a batch from its log payload; raises ValueError when the payload is not one."""
    try:
        return _decoded_record(payload)
    except struct.error as exc:  # a length field pointing past the end
        raise ValueError(f"truncated batch record: {exc}") from None


def _decoded_record(payload: bytes) -> MutationBatch:
    fmt, offset, first, appended_at, count, source_len = HEAD.unpack_from(payload)
    int_ids = bool(fmt & INT_IDS_FLAG)
    fmt &= ~INT_IDS_FLAG
    if fmt not in (RECORD_FORMAT, EVENT_RECORD_FORMAT):
        raise ValueError(f"unknown batch record format {fmt}")
    at = HEAD.size
    source = payload[at : at + source_len].decode()
    at += source_len
    ops = np.frombuffer(payload, dtype=np.uint8, count=count, offset=at).copy()
    at += count
    numbers = None
    if int_ids:
        (length,) = LENGTH.unpack_from(payload, at)
        at += LENGTH.size
        if length != 8 * count:
            raise ValueError(f"integer user column holds {length} bytes, expected {8 * count}")
        numbers = np.frombuffer(payload, dtype="<i8", count=count, offset=at).astype(np.int64)
        at += length
        users: list[str] = []
    else:
        users, at = _column(payload, at, count)
    dims, at = _column(payload, at, count)
    values, at = _column(payload, at, count)
    dates = None
    if fmt == EVENT_RECORD_FORMAT:
        dates, at = _column(payload, at, count)
    if at != len(payload):
        raise ValueError("trailing bytes after the batch")
    return MutationBatch(source, offset, ops, users, dims, values, first, appended_at, dates=dates, int_ids=numbers)


def _where(batch: MutationBatch, index: int, field_name: str) -> str:
    return f"batch {batch.source}@{batch.offset}: mutation {index}: {field_name}"


def _plain_texts(texts: list[str]) -> bool:
    """True when no text is empty, too long or holds a NUL (then no row of a column of them can be wrong)."""
    return "" not in texts and max(map(len, texts), default=0) <= MAX_TEXT and "\0" not in "".join(texts)


def _check_text(batch: MutationBatch, name: str, column: list[str], required: np.ndarray,
                event_name: str = "") -> None:
    """Raise naming the first text that is too long, holds NUL, or is empty where required (an ADD_EVENT row's
    field is called event_name: the column holds its campaign or event)."""
    if _plain_texts(column):
        return  # the common case, decided in C
    for i, text in enumerate(column):
        called = event_name if event_name and batch.ops[i] == MutationOp.ADD_EVENT else name
        if not text and required[i]:
            raise InvalidArgumentError(f"{_where(batch, i, called)} is empty")
        if len(text) > MAX_TEXT or "\0" in text:
            raise InvalidArgumentError(
                f"{_where(batch, i, called)} is over {MAX_TEXT} characters or holds a NUL character")


ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
MAX_DAYS_AHEAD = 1  # an event may be dated tomorrow (UTC), for producers east of Greenwich; not later


def _check_dates(batch: MutationBatch, events: np.ndarray) -> None:
    """Raise naming the first ADD_EVENT whose date is missing, not an ISO day, or after tomorrow (UTC).

    A far-future day would move the --keep-days window and push every real day out of it.
    """
    rows = np.flatnonzero(events).tolist()
    if not rows:
        return
    dates = batch.dates or [""] * len(batch)
    latest = (datetime.datetime.now(datetime.UTC).date() + datetime.timedelta(days=MAX_DAYS_AHEAD)).isoformat()
    bad: set[str] = set()
    for day in {dates[i] for i in rows}:  # few distinct days per batch
        try:
            if not ISO_DAY.fullmatch(day) or datetime.date.fromisoformat(day).isoformat() > latest:
                bad.add(day)
        except ValueError:
            bad.add(day)
    if not bad:
        return
    i = next(i for i in rows if dates[i] in bad)
    if not dates[i]:
        raise InvalidArgumentError(f"{_where(batch, i, 'date')} is empty; an add_event needs its day, e.g. 2026-11-01")
    if ISO_DAY.fullmatch(dates[i]) and dates[i] > latest:
        raise InvalidArgumentError(f'{_where(batch, i, "date")} "{dates[i]}" is in the future (after {latest}, '
                                   "tomorrow in UTC)")
    raise InvalidArgumentError(f'{_where(batch, i, "date")} "{dates[i][:64]}" is not an ISO date such as '
                               "2026-11-01")


def check_batch(
    batch: MutationBatch, kinds: dict[str, DimensionKind], max_mutations: int
) -> dict[str, DimensionKind]:
    """Return kinds extended with the dimensions the batch creates, or raise naming batch, mutation and field.

    Bad fields raise InvalidArgumentError; a batch over max_mutations raises QueryLimitError.
    """
    if not batch.source:
        raise InvalidArgumentError("batch: source is empty; name the input partition, e.g. kafka:user-tags/3")
    if len(batch.source) > MAX_SOURCE or "\0" in batch.source:
        raise InvalidArgumentError(f"batch: source is over {MAX_SOURCE} characters or holds a NUL character")
    if batch.offset < 0:
        raise InvalidArgumentError(f"batch {batch.source}: offset {batch.offset} is negative")
    if batch.first_offset != NO_OFFSET and not 0 <= batch.first_offset <= batch.offset:
        raise InvalidArgumentError(
            f"batch {batch.source}@{batch.offset}: first_offset {batch.first_offset} is after offset or negative")
    if len(batch) > max_mutations:
        raise QueryLimitError("batch mutation count", len(batch), max_mutations, "max_batch_mutations")
    ops = batch.ops
    bad_op = np.flatnonzero((ops < MutationOp.ADD) | (ops > LAST_OP))
    if len(bad_op):
        i = int(bad_op[0])
        what = "is MUTATION_OP_UNSPECIFIED" if ops[i] == 0 else f"{int(ops[i])} is not a known operation"
        raise InvalidArgumentError(f"{_where(batch, i, 'op')} {what}; use ADD, REMOVE, SET, DELETE_USER, "
                                   "SET_NUMBER, CLEAR_NUMBER or ADD_EVENT")
    if batch.dates is not None and len(batch.dates) != len(batch):
        raise InvalidArgumentError(f"batch {batch.source}@{batch.offset}: {len(batch.dates)} dates for "
                                   f"{len(batch)} mutations")
    if batch.int_ids is None:  # integers can be neither empty nor too long
        _check_text(batch, "user_id", batch.user_ids, np.ones(len(batch), dtype=bool))
    events = ops == MutationOp.ADD_EVENT
    codes = batch.codes
    if codes is None or not _plain_texts(codes.used(codes.dimensions)):
        _check_text(batch, "dimension", batch.dimensions, ops != MutationOp.DELETE_USER, "campaign")
    if codes is None or not _plain_texts(codes.used(codes.values)):
        _check_text(batch, "value", batch.values, (ops == MutationOp.SET_NUMBER) | events, "event")
    _check_dates(batch, events)
    after = _checked_kinds(batch, kinds)
    _check_numbers(batch, after)
    return after


def _check_numbers(batch: MutationBatch, kinds: dict[str, DimensionKind]) -> None:
    """Raise naming the first SET_NUMBER whose value its field cannot hold (places beyond the scale, range)."""
    setting = np.flatnonzero(batch.ops == MutationOp.SET_NUMBER)
    for i in setting.tolist():
        try:
            parse_value(kinds[batch.dimensions[i]], batch.values[i])
        except ValueError as exc:
            raise InvalidArgumentError(f'{_where(batch, i, "value")} {exc} (field "{batch.dimensions[i]}" is '
                                       f"{kinds[batch.dimensions[i]]})") from None


def _fits(kind: DimensionKind, op: int) -> bool:
    """True when op applies to a dimension or field of this kind."""
    if op in NUMBER_OPS:
        return kind.numeric
    return kind is (DimensionKind.SINGLE if op == MutationOp.SET else DimensionKind.MULTI)


def _created_kind(batch: MutationBatch, index: int) -> DimensionKind:
    """Return the kind a dimension or field gets from the mutation that creates it."""
    op = int(batch.ops[index])
    if op == MutationOp.SET_NUMBER:
        try:
            return kind_of_literal(batch.values[index])
        except ValueError as exc:
            raise InvalidArgumentError(f'{_where(batch, index, "value")} {exc}; a new numeric field takes its kind '
                                       "from its first value") from None
    return DimensionKind.SINGLE if op == MutationOp.SET else DimensionKind.MULTI


def _dimension_ops(batch: MutationBatch) -> set[tuple[str, int]]:
    """Return the distinct (dimension, op) pairs of a batch (from its string codes when it has them: a set of
    5,000 tuples took 0.49 ms per batch)."""
    if batch.codes is None:
        return set(zip(batch.dimensions, batch.ops.tolist(), strict=True))
    present = np.zeros((len(batch.codes.strings), LAST_OP + 1), dtype=bool)  # ops were checked: 1..LAST_OP
    present[batch.codes.dimensions, batch.ops] = True
    return {(batch.codes.strings[d], op) for d, op in np.argwhere(present).tolist()}


def _checked_kinds(batch: MutationBatch, known: dict[str, DimensionKind]) -> dict[str, DimensionKind]:
    """Return the kinds after the batch; a mutation of the wrong kind is an error (a REMOVE or CLEAR_NUMBER
    before the mutation that creates its dimension is not: sequentially it removes from nothing)."""
    kinds = dict(known)
    pairs = _dimension_ops(batch)
    ops = batch.ops.tolist()
    creating = (MutationOp.SET, MutationOp.ADD, MutationOp.SET_NUMBER)
    new = {d for d, op in pairs if d not in kinds and op in creating}
    first: dict[str, int] = {}
    if new:  # a dimension this batch creates takes the kind of its first SET, ADD or SET_NUMBER
        first = {d: i for i, (d, op) in reversed(list(enumerate(zip(batch.dimensions, ops, strict=True))))
                 if d in new and op in creating}
        for d, i in first.items():
            kinds[d] = _created_kind(batch, i)
    wrong = {(d, op) for d, op in pairs
             if op not in (MutationOp.DELETE_USER, MutationOp.ADD_EVENT) and d in kinds and not _fits(kinds[d], op)}
    if not wrong:
        return kinds
    offending = [i for i, pair in enumerate(zip(batch.dimensions, ops, strict=True))
                 if pair in wrong and i > first.get(pair[0], -1)]
    if not offending:
        return kinds
    i = offending[0]
    dimension, verb, kind = batch.dimensions[i], MutationOp(ops[i]).name.lower(), kinds[batch.dimensions[i]]
    if kind.numeric:
        raise InvalidArgumentError(f'{_where(batch, i, "op")} {verb} on numeric field "{dimension}" ({kind}); use '
                                   "set_number or clear_number")
    hint = "use add or remove" if kind is DimensionKind.MULTI else "use set"
    raise InvalidArgumentError(
        f'{_where(batch, i, "op")} {verb} on {kind.value}-valued dimension "{dimension}"; {hint}')


INT_IDS = re.compile(r"(?:-?[0-9]{1,18}\0)*")


def _nineteen_digit_int64(text: str) -> bool:
    """True for a 19-digit ID that still fits int64 (the fast check stops at 18 digits, which always fit)."""
    return re.fullmatch(r"-?[0-9]{19}", text) is not None and -(2**63) <= int(text) < 2**63


def check_int_ids(batch: MutationBatch) -> None:
    """Raise InvalidArgumentError naming the first user ID that is not an int64 (for data dirs of integer IDs)."""
    if batch.int_ids is not None:
        return
    if INT_IDS.fullmatch("\0".join(batch.user_ids) + "\0" if batch.user_ids else ""):
        return  # the common case, decided in C
    for i, user in enumerate(batch.user_ids):
        if not INT_IDS.fullmatch(user + "\0") and not _nineteen_digit_int64(user):
            raise InvalidArgumentError(f'{_where(batch, i, "user_id")} "{user[:64]}" is not an integer; this data '
                                       "dir's user IDs are int64")


def validated(batch: MutationBatch, kinds: dict[str, DimensionKind], max_mutations: int, *, int_ids: bool
              ) -> dict[str, DimensionKind]:
    """Return the kinds after a valid batch (check_batch), checking its user IDs are integers where they must be."""
    after = check_batch(batch, kinds, max_mutations)
    if int_ids:
        check_int_ids(batch)
    elif batch.int_ids is not None:
        raise InvalidArgumentError(f"batch {batch.source}@{batch.offset}: int_user_ids need a data dir of integer "
                                   "user IDs; this one's are strings (or it has none yet): send user_ids")
    return after
