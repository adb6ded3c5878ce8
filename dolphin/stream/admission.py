"""Which batches of a group may enter the log: validated in order against the state they will meet."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from dolphin.engine.snapshot import Snapshot
from dolphin.errors import DolphinError, InvalidArgumentError, QueryLimitError
from dolphin.storage import DimensionKind
from dolphin.stream.batches import MutationBatch, encode_record, validated
from dolphin.stream.settings import IngestSettings


@dataclass(slots=True)
class Admission:
    """The verdict on each batch of a group (indices into the group, in order)."""

    accepted: list[int] = field(default_factory=list)
    payloads: list[bytes] = field(default_factory=list)  # the log record of each accepted batch
    kinds_after: list[dict[str, DimensionKind]] = field(default_factory=list)  # kinds after each accepted batch
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
    return verdict
