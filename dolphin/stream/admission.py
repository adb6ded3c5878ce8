"""Which batches of a group may enter the log: validated in order against the state they will meet."""

from __future__ import annotations

import collections
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

from dolphin.engine.snapshot import Snapshot
from dolphin.errors import DolphinError, InvalidArgumentError, QueryLimitError
from dolphin.storage import DimensionKind
from dolphin.stream.apply import event_windows
from dolphin.stream.batches import MutationBatch, MutationOp, encode_record, validated
from dolphin.stream.settings import IngestSettings


@dataclass(slots=True)
class Admission:
    """The verdict on each batch of a group (indices into the group, in order)."""

    accepted: list[int] = field(default_factory=list)
    payloads: list[bytes] = field(default_factory=list)  # the log record of each accepted batch
    kinds_after: list[dict[str, DimensionKind]] = field(default_factory=list)  # kinds after each accepted batch
    dropped_events: list[int] = field(default_factory=list)  # per accepted batch: events before the window
    skipped: list[int] = field(default_factory=list)  # at or below the source's stored offset: acked, not applied
    rejected: list[tuple[int, DolphinError]] = field(default_factory=list)

    def kinds_of_first(self, written: int, before: dict[str, DimensionKind]) -> dict[str, DimensionKind]:
        """Return the kinds after the first `written` accepted batches."""
        return self.kinds_after[written - 1] if written else before


def admit(batches: Sequence[MutationBatch], snap: Snapshot, settings: IngestSettings, now: float) -> Admission:
    """Validate a group against snap as each batch will find it (after the accepted ones before it).

    Stamps each accepted batch with `appended_at = now` and encodes its log record.
    """
    kinds = dict(snap.kinds)
    offsets = dict(snap.stream.offsets)
    newest_day = snap.events.newest_day
    verdict = Admission()
    for index, batch in enumerate(batches):
        try:
            after = validated(batch, kinds, settings.max_batch_mutations, int_ids=snap.integer_ids)
            stored = offsets.get(batch.source, -1)
            if batch.offset <= stored:
                verdict.skipped.append(index)
                continue
            if 0 <= batch.first_offset <= stored:
                raise InvalidArgumentError(
                    f"batch {batch.source}@{batch.offset}: offsets {batch.first_offset}..{batch.offset} overlap "
                    f"the stored offset {stored}; send offsets after {stored} only")
            batch.appended_at = now
            payload = encode_record(batch)
            if len(payload) > settings.max_record_bytes:
                raise QueryLimitError("batch size in bytes", len(payload), settings.max_record_bytes,
                                      "max_batch_bytes")
        except DolphinError as exc:
            verdict.rejected.append((index, exc))
            continue
        kinds = after
        offsets[batch.source] = batch.offset
        verdict.accepted.append(index)
        verdict.payloads.append(payload)
        verdict.kinds_after.append(after)
        newest_day, dropped = events_before_window(batch, newest_day, settings.keep_days)
        verdict.dropped_events.append(dropped)
    return verdict


def events_before_window(batch: MutationBatch, newest_day: str, keep_days: int) -> tuple[str, int]:
    """Return the newest event day after the batch and how many of its events fall before its window (the rule
    apply_batches drops by: apply.event_windows)."""
    if keep_days <= 0 or batch.dates is None:
        return newest_day, 0
    (oldest,), newest_day = event_windows([batch], newest_day, keep_days)
    per_day = collections.Counter(itertools.compress(batch.dates, batch.ops == MutationOp.ADD_EVENT))
    return newest_day, sum(n for day, n in per_day.items() if day < oldest)
