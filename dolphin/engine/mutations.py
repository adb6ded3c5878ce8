"""Applying a batch of tag mutations to a snapshot, copy-on-write: groundwork for stream ingest (the stream issue).

`apply_batch` validates the whole batch first (nothing of a rejected batch is applied), then returns a new Snapshot
that shares every untouched tag bitmap with the old one; readers of the old snapshot are never disturbed, and the
swap is the usual single reference assignment. Not wired to any RPC yet: the write-ahead log, offsets and
recovery come with the stream issue.

Semantics: SET moves a user of a single-valued dimension out of its old value and into the new one; ADD and
REMOVE are for multi-valued dimensions; DELETE_USER removes the user from every tag and from the population
(its dense ID stays reserved, so saved audiences keep meaning). A SET on an unknown dimension creates a
single-valued one, an ADD a multi-valued one. An unknown user gets a new dense ID; only SET and ADD make a user
part of the population.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass

import numpy as np
import polars as pl
from pyroaring import AbstractBitMap, BitMap, FrozenBitMap

from dolphin.engine.snapshot import Snapshot
from dolphin.errors import InvalidArgumentError
from dolphin.storage import DimensionKind

MAX_TEXT = 1024


class MutationOp(enum.Enum):
    """What a mutation does."""

    ADD = "add"
    REMOVE = "remove"
    SET = "set"
    DELETE_USER = "delete_user"


@dataclass(frozen=True, slots=True)
class Mutation:
    """One change: op on user_id, with dimension and value for ADD, REMOVE and SET."""

    user_id: str
    op: MutationOp
    dimension: str = ""
    value: str = ""


def _check(batch: str, index: int, m: Mutation, kinds: dict[str, DimensionKind]) -> None:
    where = f"batch {batch}: mutation {index}"
    if not isinstance(m.op, MutationOp):
        raise InvalidArgumentError(f"{where}: op {m.op!r} is not one of add, remove, set, delete_user")
    if not m.user_id:
        raise InvalidArgumentError(f"{where}: user_id is empty")
    if m.op is MutationOp.DELETE_USER:
        return
    if not m.dimension:
        raise InvalidArgumentError(f"{where}: dimension is empty")
    if len(m.dimension) > MAX_TEXT or len(m.value) > MAX_TEXT:
        raise InvalidArgumentError(f"{where}: dimension or value is over {MAX_TEXT} characters")
    kind = kinds.get(m.dimension)
    if m.op is MutationOp.SET and kind is DimensionKind.MULTI:
        raise InvalidArgumentError(f'{where}: set on multi-valued dimension "{m.dimension}"; use add or remove')
    if m.op in (MutationOp.ADD, MutationOp.REMOVE) and kind is DimensionKind.SINGLE:
        raise InvalidArgumentError(f'{where}: {m.op.value} on single-valued dimension "{m.dimension}"; use set')


class _Draft:
    """Mutable copies of just the tags a batch touches."""

    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap
        self.kinds = dict(snap.kinds)
        self.tags: dict[str, dict[str, AbstractBitMap]] = dict(snap.tags)  # type: ignore[arg-type]
        self.copied: set[tuple[str, str]] = set()
        self.copied_dims: set[str] = set()
        self.population = BitMap(snap.population)

    def tag(self, dimension: str, value: str) -> BitMap:
        if dimension not in self.copied_dims:
            self.tags[dimension] = dict(self.tags.get(dimension, {}))
            self.copied_dims.add(dimension)
        if (dimension, value) not in self.copied:
            self.tags[dimension][value] = BitMap(self.tags[dimension].get(value, FrozenBitMap()))
            self.copied.add((dimension, value))
        bm = self.tags[dimension][value]
        assert isinstance(bm, BitMap)
        return bm

    def apply(self, m: Mutation, user: int) -> None:
        if m.op is MutationOp.DELETE_USER:
            for dimension, values in list(self.tags.items()):
                for value, bm in list(values.items()):
                    if user in bm:
                        self.tag(dimension, value).discard(user)
            self.population.discard(user)
            return
        if m.op is not MutationOp.REMOVE:  # removing a tag does not make a user known
            self.population.add(user)
        if m.op is MutationOp.SET:
            self.kinds.setdefault(m.dimension, DimensionKind.SINGLE)
            for value, bm in list(self.tags.get(m.dimension, {}).items()):
                if value != m.value and user in bm:
                    self.tag(m.dimension, value).discard(user)
            self.tag(m.dimension, m.value).add(user)
        elif m.op is MutationOp.ADD:
            self.kinds.setdefault(m.dimension, DimensionKind.MULTI)
            self.tag(m.dimension, m.value).add(user)
        elif m.dimension in self.tags and m.value in self.tags[m.dimension]:
            self.tag(m.dimension, m.value).discard(user)


def apply_batch(snap: Snapshot, mutations: list[Mutation], *, batch: str = "") -> Snapshot:
    """Return a new snapshot with the batch applied; raises InvalidArgumentError (applying nothing) on bad input."""
    kinds = dict(snap.kinds)
    for index, m in enumerate(mutations):
        _check(batch, index, m, kinds)
        if m.op is MutationOp.SET:
            kinds.setdefault(m.dimension, DimensionKind.SINGLE)
        elif m.op is MutationOp.ADD:
            kinds.setdefault(m.dimension, DimensionKind.MULTI)
    ids_series = pl.Series("user_id", [m.user_id for m in mutations], dtype=pl.String)
    if snap.ids.id_type == "int64" and len(snap.ids):
        try:
            ids_series = ids_series.cast(pl.Int64, strict=True)
        except pl.exceptions.PolarsError:
            raise InvalidArgumentError(f"batch {batch}: user IDs of this data dir are integers") from None
    dense, ids = snap.ids.encode(ids_series) if mutations else (np.empty(0, np.uint32), snap.ids)
    draft = _Draft(snap)
    for m, user in zip(mutations, dense.tolist(), strict=True):
        draft.apply(m, user)
    tags = {d: {v: bm if isinstance(bm, FrozenBitMap) else FrozenBitMap(bm) for v, bm in values.items() if bm}
            for d, values in draft.tags.items()}
    data = dataclasses.replace(snap.data, ids=ids, population=FrozenBitMap(draft.population), tags=tags,
                               dimensions=draft.kinds)
    return Snapshot(data)
