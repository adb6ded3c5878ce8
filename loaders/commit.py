"""The commit path every batch loader shares: previous version -> writer holding what it keeps -> commit -> prune.

A loader opens the previous version (`previous_snapshot`), gets a writer that carries everything it does not
replace (`writer_after`), adds its own data and calls `commit_version`.
"""

from __future__ import annotations

import pathlib
import time
from typing import Any

import numpy as np
from pyroaring import AbstractBitMap

from dolphin import failpoints
from dolphin.errors import LoadError, SnapshotError
from dolphin.storage import IdDictionary, SnapshotWriter, StreamMark, bitmap_from_array, open_newest_snapshot
from dolphin.storage.reader import SnapshotData
from dolphin.storage.writer import prune_versions


def writer_after(
    previous: SnapshotData | None,
    data_dir: pathlib.Path,
    shard_bits: int,
    ids: IdDictionary,
    dense: np.ndarray,
    *,
    replaced: set[str],
    carry_attachments: bool = True,
    carry_events: bool = True,
    cut_time: float | None = None,
    replaced_days: tuple[str, str] | None = None,
) -> SnapshotWriter:
    """Return a writer holding the previous version (minus `replaced` dimensions) plus the new users.

    replaced_days (an events load) are the event days the load replaces, for what a stream re-applies over it.
    """
    writer = SnapshotWriter(data_dir, shard_bits=shard_bits)
    writer.ids = ids
    writer.stream = stream_state_after(previous, replaced, time.time() if cut_time is None else cut_time,
                                       replaced_days)
    population: AbstractBitMap = bitmap_from_array(dense)
    if previous:
        population = previous.population | population
        if carry_attachments and previous.path is not None:
            writer.carry_attachments(previous.path, previous.manifest)
        if carry_events:
            for (campaign, event), days in previous.events.items():
                for day, bm in days.items():
                    writer.add_event(campaign, event, day, bm)
        for dim, kind in previous.dimensions.items():
            if dim not in replaced:
                writer.set_kind(dim, kind)
                for value, kept in previous.tags[dim].items():
                    writer.add_bitmap(dim, value, kept)
    writer.population = population
    return writer


def stream_state_after(previous: SnapshotData | None, replaced: set[str], cut_time: float,
                       replaced_days: tuple[str, str] | None = None) -> StreamMark:
    """Return the stream mark of a batch version: what a streaming server must re-apply from its log.

    Loaded dimensions and event days are fresh as of cut_time; carried ones as fresh as the previous version
    (see StreamMark.after_load). Source offsets carry over unchanged.
    """
    return (previous.manifest.stream if previous is not None else StreamMark()).after_load(
        replaced, cut_time, replaced_days)


def previous_snapshot(data_dir: pathlib.Path) -> SnapshotData | None:
    """Return the newest valid version of data_dir, or None; LoadError when it cannot be read."""
    try:
        return open_newest_snapshot(data_dir)
    except SnapshotError as exc:
        raise LoadError(f"cannot read the current snapshot of {data_dir}: {exc}") from exc


def commit_version(writer: SnapshotWriter, data_dir: pathlib.Path, keep: int, source: dict[str, Any],
                   started: float) -> tuple[int, list[int]]:
    """Commit the writer as the next version and prune to `keep` versions; return (version, pruned versions)."""
    version = writer.commit(source=source, started=started, failpoint=failpoints.hit)
    return version, prune_versions(data_dir, keep)
