"""Open a snapshot version: verify every file against the manifest, then deserialize the bitmaps."""

from __future__ import annotations

import logging
import pathlib
import struct
from dataclasses import dataclass, field

from pyroaring import FrozenBitMap

from dolphin.errors import SnapshotError
from dolphin.storage import layout
from dolphin.storage.fsutil import file_crc32
from dolphin.storage.ids import IdDictionary
from dolphin.storage.manifest import DimensionKind, Manifest
from dolphin.storage.shard_file import read_pieces

log = logging.getLogger("dolphin.storage")


@dataclass(slots=True)
class SnapshotData:
    """One version on disk, read into memory and verified (every file's crc32 checked): population, ID
    dictionary, one bitmap per tag and the event bitmaps. The engine serves it wrapped in an engine Snapshot."""

    manifest: Manifest
    ids: IdDictionary
    population: FrozenBitMap
    dimensions: dict[str, DimensionKind]
    tags: dict[str, dict[str, FrozenBitMap]]
    serialized_bytes: int = 0
    events: dict[tuple[str, str], dict[str, FrozenBitMap]] = field(default_factory=dict)
    skipped_versions: list[str] = field(default_factory=list)
    path: pathlib.Path | None = None

    @property
    def version(self) -> int:
        """Return the version number."""
        return self.manifest.version


def read_manifest(path: pathlib.Path) -> Manifest:
    """Read and parse the manifest of a version directory."""
    manifest_path = path / layout.MANIFEST
    try:
        raw = manifest_path.read_bytes()
    except OSError as exc:
        raise SnapshotError(f"{manifest_path}: cannot read manifest: {exc.strerror}") from exc
    return Manifest.from_json(raw, str(manifest_path))


def verify_files(path: pathlib.Path, manifest: Manifest) -> None:
    """Check every file's size and crc32 against the manifest."""
    for name, entry in manifest.files.items():
        try:
            size, crc = file_crc32(path / name)
        except OSError as exc:
            raise SnapshotError(f"{path / name}: cannot read: {exc.strerror}") from exc
        if (size, crc) != (entry.bytes, entry.crc32):
            raise SnapshotError(
                f"{path / name}: checksum mismatch (expected {entry.bytes} bytes crc32 {entry.crc32:08x}, "
                f"found {size} bytes crc32 {crc:08x})"
            )


def _merge(pieces: list[memoryview]) -> FrozenBitMap:
    # Deserialized frozen at once: a BitMap copied into a FrozenBitMap left its freed containers as heap holes.
    bitmaps = [FrozenBitMap.deserialize(p) for p in pieces if p]  # type: ignore[arg-type]  # any buffer
    if not bitmaps:
        return FrozenBitMap()
    return bitmaps[0] if len(bitmaps) == 1 else FrozenBitMap.union(*bitmaps)


def open_snapshot(path: pathlib.Path) -> SnapshotData:
    """Open and verify one version directory; raises SnapshotError when anything is off."""
    manifest = read_manifest(path)
    verify_files(path, manifest)
    entries = len(manifest.tags) + len(manifest.events) + 1
    try:
        per_shard = [read_pieces(path / layout.shard_file(s), s, entries) for s in range(manifest.shards)]
        ids = IdDictionary.load_pages([path / name for name in manifest.id_files], manifest.id_type)
        bitmaps = [_merge([shard[i] for shard in per_shard]) for i in range(entries)]
        overlay = _read_overlay(path, manifest)
    except (OSError, ValueError, struct.error) as exc:
        raise SnapshotError(f"{path}: cannot read snapshot: {exc}") from exc
    tags: dict[str, dict[str, FrozenBitMap]] = {d: {} for d in manifest.dimensions}
    tag_bitmaps, event_bitmaps = bitmaps[1 : len(manifest.tags) + 1], bitmaps[len(manifest.tags) + 1 :]
    events: dict[tuple[str, str], dict[str, FrozenBitMap]] = {}
    for event_entry, bm in zip(manifest.events, event_bitmaps, strict=True):
        events.setdefault((event_entry.campaign, event_entry.event), {})[event_entry.day] = bm
    for entry, bm in zip(manifest.tags, tag_bitmaps, strict=True):
        if len(bm) != entry.count:
            raise SnapshotError(
                f"{path}: tag {entry.dimension}={entry.value} has {len(bm)} users; the manifest says {entry.count}"
            )
        tags.setdefault(entry.dimension, {})[entry.value] = bm
    population = bitmaps[0]
    if overlay is not None:
        overlay_tags, overlay_events = overlay
        population = overlay_tags.pop(("", ""))
        for (dimension, value), bm in overlay_tags.items():
            if bm:
                tags.setdefault(dimension, {})[value] = bm
            else:
                tags.get(dimension, {}).pop(value, None)
        for (campaign, event, day), bm in overlay_events.items():
            if bm:
                events.setdefault((campaign, event), {})[day] = bm
            elif day in events.get((campaign, event), {}):
                del events[(campaign, event)][day]
                if not events[(campaign, event)]:
                    del events[(campaign, event)]
    tags = {d: tags.get(d, {}) for d in manifest.dimensions}
    size = sum(e.bytes for n, e in manifest.files.items() if n.startswith("shard-") or n == layout.OVERLAY_FILE)
    return SnapshotData(manifest, ids, population, dict(manifest.dimensions), tags, size, events, path=path)


def _read_overlay(path: pathlib.Path, manifest: Manifest) -> tuple[
        dict[tuple[str, str], FrozenBitMap], dict[tuple[str, str, str], FrozenBitMap]] | None:
    """Return the population (key ("", "")) and the changed tags of an incremental version, and its changed
    event days."""
    if manifest.overlay is None:
        return None
    tags = len(manifest.overlay)
    pieces = read_pieces(path / layout.OVERLAY_FILE, 0, tags + len(manifest.overlay_events) + 1)
    overlay = {("", ""): _merge(pieces[:1])}
    for entry, piece in zip(manifest.overlay, pieces[1 : tags + 1], strict=True):
        bm = _merge([piece])
        if len(bm) != entry.count:
            raise SnapshotError(f"{path}: overlay tag {entry.dimension}={entry.value} has {len(bm)} users; "
                                f"the manifest says {entry.count}")
        overlay[(entry.dimension, entry.value)] = bm
    events = {}
    for event_entry, piece in zip(manifest.overlay_events, pieces[tags + 1 :], strict=True):
        bm = _merge([piece])
        if len(bm) != event_entry.count:
            raise SnapshotError(f"{path}: overlay event {event_entry.campaign}/{event_entry.event}/{event_entry.day} "
                                f"has {len(bm)} users; the manifest says {event_entry.count}")
        events[(event_entry.campaign, event_entry.event, event_entry.day)] = bm
    return overlay, events



def open_newest_snapshot(data_dir: pathlib.Path, *, newer_than: int = 0,
                         batch_at_most: int | None = None) -> SnapshotData | None:
    """Open the newest version that verifies, falling back to older ones loudly; None when none is newer.

    batch_at_most (a cluster shard's pin) tries the versions of the newest batch load up to it first
    (`pinned_order`), and never one of a newer load.
    """
    skipped: list[str] = []
    order = reversed(layout.list_versions(data_dir)) if batch_at_most is None else iter(
        pinned_order(data_dir, batch_at_most))
    for version in order:
        if version <= newer_than:
            break
        path = layout.versions_dir(data_dir) / layout.version_name(version)
        try:
            data = open_snapshot(path)
        except SnapshotError as exc:
            log.error("snapshot version %d is damaged, falling back to an older one: %s", version, exc)
            skipped.append(f"{version}: {exc}")
            continue
        data.skipped_versions = skipped
        return data
    return None


def pinned_order(data_dir: pathlib.Path, pin: int) -> list[int]:
    """Return the versions holding a batch load up to pin: newest load first, newest version of it first."""
    keyed = []
    for version in layout.list_versions(data_dir):
        try:
            batch = read_manifest(layout.versions_dir(data_dir) / layout.version_name(version)).batch
        except SnapshotError:
            continue  # unreadable: opening it would fail too
        if batch <= pin:
            keyed.append((batch, version))
    return [version for _, version in sorted(keyed, reverse=True)]
