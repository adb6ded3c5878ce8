"""Routing stream batches to shards: one batch becomes one part per shard, each with the batch's source and offsets.

Every shard gets a part, an empty one included, so that every shard's stored offset for the source advances
together: a producer that resumes from the cluster's offsets then resends nothing that any shard still needs,
and each shard deduplicates a resent part by its own offsets (exactly once, per shard).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from dolphin.storage.partition import shard_of
from dolphin.stream.batches import MutationBatch


def split_batch(batch: MutationBatch, id_type: str, shards: int) -> list[MutationBatch]:
    """Return the batch's mutations by their user's shard, in their order, one part per shard (in shard order).

    Raises ValueError naming a user ID that is not an integer when id_type is int64.
    """
    users = pl.Series(batch.user_ids, dtype=pl.String) if batch.int_ids is None else pl.Series(
        batch.int_ids, dtype=pl.Int64)
    owner = shard_of(users, id_type, shards)
    order = np.argsort(owner, kind="stable")  # stable: each part keeps the batch's order
    bounds = np.searchsorted(owner[order], np.arange(shards + 1))
    parts = []
    for shard in range(shards):
        parts.append(batch.picked(order[bounds[shard] : bounds[shard + 1]].tolist()))
    return parts
