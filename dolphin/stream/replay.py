"""Which logged mutations a snapshot version lacks, and applying them: what recovery and adoption replay."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable

import numpy as np

from dolphin.engine.snapshot import Snapshot
from dolphin.errors import DolphinError
from dolphin.storage import Manifest, MarkKind
from dolphin.storage.wal import Record
from dolphin.stream.apply import apply_batches
from dolphin.stream.batches import MutationBatch, MutationOp, decode_record, normalized, validated

log = logging.getLogger("dolphin.stream")
REPLAY_CHUNK = 64  # log records applied per copy-on-write step


def replay_rule(manifest: Manifest) -> Callable[[Record, MutationBatch], MutationBatch | None]:
    """Return what of a log record a version lacks: all of it, the part on carried dimensions, or nothing.

    After a checkpoint: every record from its log position on. After a batch load: every record logged after
    the input's cut time, plus, from the point the carried dimensions are fresh as of, the mutations on
    dimensions the load did not replace, the events on days it did not replace (and DELETE_USER). A version
    without stream state counts as a batch of every dimension and every event day cut at its build time.
    """
    mark = manifest.stream
    if mark.kind is MarkKind.CHECKPOINT:
        position = mark.wal_position
        return lambda record, batch: batch if record.position >= position else None
    batch_load = mark.kind is MarkKind.BATCH
    cut = mark.cut_time if batch_load else manifest.built_at
    replaced = set(mark.replaced if batch_load else manifest.dimensions)
    # the event days the version holds the truth of; ("", "") replaces none, ("", "9999-12-31") every one
    first_day, last_day = (mark.replaced_days or ("", "")) if batch_load else ("", "9999-12-31")
    carried = mark.carried_from

    def carried_fresh(record: Record, batch: MutationBatch) -> bool:
        if not batch_load:
            return False
        if carried.wal_position is not None:
            return record.position >= carried.wal_position
        if carried.cut_time is not None:
            return batch.appended_at > carried.cut_time
        return True  # a loader that knew no earlier point: the whole retained log

    def rule(record: Record, batch: MutationBatch) -> MutationBatch | None:
        if batch.appended_at > cut:
            return batch
        if not carried_fresh(record, batch):
            return None
        events = batch.ops == MutationOp.ADD_EVENT
        dates = batch.dates or [""] * len(batch)
        keep = np.where(events, np.array([not first_day <= day <= last_day for day in dates], dtype=bool),
                        np.array([d not in replaced for d in batch.dimensions], dtype=bool)) | (
            batch.ops == MutationOp.DELETE_USER)
        if not keep.any():
            return None
        return batch.picked(np.flatnonzero(keep).tolist())

    return rule


@dataclasses.dataclass(frozen=True, slots=True)
class Replayed:
    """A snapshot with the log applied, and how much of the log that was."""

    snapshot: Snapshot
    records: int
    mutations: int


def replay_records(snap: Snapshot, records: Iterable[Record], manifest: Manifest, end: int, keep_days: int = 0
                   ) -> Replayed:
    """Apply the log records that the version `manifest` describes lacks; the result's log position is end.

    keep_days is the event window the batches were applied with (apply_batches).

    A record that no longer applies (a batch version changed a dimension's kind or brought integer IDs since it
    was logged) is skipped with an error in the log, as a loader that rewrote that dimension meant.
    """
    needed = replay_rule(manifest)
    offsets = dict(manifest.stream.offsets)
    for source, offset in snap.stream.offsets.items():
        offsets[source] = max(offsets.get(source, -1), offset)
    pending: list[MutationBatch] = []
    replayed = mutations = 0
    kinds = dict(snap.kinds)
    for record in records:
        whole = normalized(decode_record(record.payload))  # records logged before values were normalised
        offsets[whole.source] = max(offsets.get(whole.source, -1), whole.offset)
        batch = needed(record, whole)
        if batch is None:
            continue
        try:
            kinds = validated(batch, kinds, len(batch) + 1, int_ids=snap.integer_ids)
        except DolphinError as exc:
            log.error("log record at position %d no longer applies and is skipped: %s", record.position, exc)
            continue
        pending.append(batch)
        replayed += 1
        mutations += len(batch)
        if len(pending) >= REPLAY_CHUNK:
            snap = apply_batches(snap, pending, kinds, snap.stream.advanced(record.end, dict(offsets), len(pending)),
                                 keep_days)
            pending = []
    stream = snap.stream.advanced(end, dict(offsets), len(pending))
    snap = apply_batches(snap, pending, kinds, stream, keep_days) if pending else snap.with_stream(
        stream, snap.data, set())
    return Replayed(snap, replayed, mutations)
