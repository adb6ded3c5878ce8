"""Writing the served stream state as a snapshot version (incremental when few tags changed, else full)."""

from __future__ import annotations

import pathlib

from pyroaring import AbstractBitMap, FrozenBitMap

from dolphin import failpoints
from dolphin.engine.snapshot import Snapshot
from dolphin.errors import DolphinError
from dolphin.storage import MarkKind, SnapshotWriter, StreamMark, layout
from dolphin.storage.reader import read_manifest
from dolphin.storage.writer import overlay_bytes


def write_checkpoint(data_dir: pathlib.Path, snap: Snapshot, position: int, overlay_ratio: float
                     ) -> tuple[int, bool, int]:
    """Write snap as the next version covering the log before position; return (version, incremental, tags).

    Incremental (the full base version's shard and ID files shared by hard links, the overlay rewritten) while
    the overlay, which holds every tag that differs from the full base, stays under overlay_ratio of the full
    base's shard bytes; past that the chain is compacted into a full version.
    """
    data = snap.data
    writer = SnapshotWriter(data_dir, shard_bits=data.manifest.shard_bits or 20)
    writer.failpoint = failpoints.hit
    writer.ids = snap.ids
    writer.population = snap.population
    writer.kinds = dict(snap.kinds)
    writer.stream = StreamMark.checkpoint(position, snap.stream.offsets)
    writer.batch_version = data.manifest.batch  # 0 for a stream that started from no version
    if data.path is not None:
        writer.carry_attachments(data.path, data.manifest)
    source = {"kind": "checkpoint", "sequence": snap.stream.sequence}
    changed: dict[tuple[str, str], AbstractBitMap] = {
        k: snap.tags.get(k[0], {}).get(k[1], FrozenBitMap()) for k in snap.stream.dirty}
    changed_events: dict[tuple[str, str, str], AbstractBitMap] = {
        (c, e, day): data.events.get((c, e), {}).get(day, FrozenBitMap()) for c, e, day in snap.stream.dirty_events}
    base = data.manifest
    if data.path is not None and base.shards and base.version > 0:
        changed_bytes = overlay_bytes(base) + sum(bm.__sizeof__() for bm in changed.values()) + sum(
            bm.__sizeof__() for bm in changed_events.values())
        base_bytes = sum(e.bytes for n, e in base.files.items() if n.startswith("shard-"))
        if changed_bytes <= overlay_ratio * base_bytes:
            version = writer.commit_overlay(data.path, base, changed, changed_events=changed_events, source=source,
                                            failpoint=failpoints.hit)
            return version, True, len(changed)
    for dimension, values in snap.tags.items():
        for value, bm in values.items():
            writer.add_bitmap(dimension, value, bm)
    for (campaign, event), days in data.events.items():
        for day, bm in days.items():
            writer.add_event(campaign, event, day, bm)
    version = writer.commit(source=source, failpoint=failpoints.hit, before_manifest="ckpt.after_files_before_manifest")
    return version, False, len(changed)


def needed_log_position(data_dir: pathlib.Path, position: int) -> int:
    """Return the oldest log position a retained version still needs (its fallback must replay from there)."""
    needed = position
    for version in layout.list_versions(data_dir):
        try:
            stream = read_manifest(layout.versions_dir(data_dir) / layout.version_name(version)).stream
        except DolphinError:
            continue
        if stream.kind is MarkKind.CHECKPOINT:
            needed = min(needed, stream.wal_position)
        else:
            return 0  # a batch version replays by cut time: keep the log (retention still applies)
    return needed
