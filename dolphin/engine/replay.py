"""Which logged mutations a snapshot version lacks: the rule recovery and batch-load adoption replay by."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from dolphin.engine.batches import MutationBatch, MutationOp
from dolphin.storage import Manifest
from dolphin.storage.wal import Record


def replay_rule(manifest: Manifest) -> Callable[[Record, MutationBatch], MutationBatch | None]:
    """Return what of a log record a version lacks: all of it, the part on carried dimensions, or nothing.

    After a checkpoint: every record from its log position on. After a batch load: every record logged after
    the input's cut time, plus, from the point the carried dimensions are fresh as of, the mutations on
    dimensions the load did not replace (and DELETE_USER). A version without stream state counts as a batch
    of every dimension cut at its build time.
    """
    stream = manifest.stream
    if "wal_position" in stream:
        position = int(stream["wal_position"])
        return lambda record, batch: batch if record.position >= position else None
    cut = float(stream.get("cut_time", manifest.built_at))
    replaced = set(stream.get("replaced", manifest.dimensions if "cut_time" not in stream else []))
    carried_from = stream.get("carried_from", {})

    def carried_fresh(record: Record, batch: MutationBatch) -> bool:
        if "wal_position" in carried_from:
            return record.position >= int(carried_from["wal_position"])
        if "cut_time" in carried_from:
            return batch.appended_at > float(carried_from["cut_time"])
        return "cut_time" in stream  # a loader that knew no earlier point: the whole retained log

    def rule(record: Record, batch: MutationBatch) -> MutationBatch | None:
        if batch.appended_at > cut:
            return batch
        if not carried_fresh(record, batch):
            return None
        keep = np.array([d not in replaced for d in batch.dimensions], dtype=bool) | (
            batch.ops == MutationOp.DELETE_USER)
        if not keep.any():
            return None
        picked = np.flatnonzero(keep).tolist()
        return dataclasses.replace(batch, ops=batch.ops[keep], user_ids=[batch.user_ids[i] for i in picked],
                                   dimensions=[batch.dimensions[i] for i in picked],
                                   values=[batch.values[i] for i in picked])

    return rule
