"""Saved audiences: materialised bitmaps of dense IDs, one file each, outside snapshot versions.

Dense IDs are stable across loads, so a saved audience stays valid after every batch load and restart.
"""

from __future__ import annotations

import logging
import os
import pathlib
import re
import threading
import time
from dataclasses import dataclass

from pyroaring import AbstractBitMap, FrozenBitMap

from dolphin.engine.results import AudienceInfo
from dolphin.errors import AudienceExistsError, AudienceNotFoundError, InvalidArgumentError, SnapshotError
from dolphin.storage import layout
from dolphin.storage.audience_file import decode_audience, encode_audience
from dolphin.storage.fsutil import atomic_write, fsync_dir

log = logging.getLogger("dolphin.engine")
NAME_RULE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}")
SUFFIX = ".audience"


@dataclass(frozen=True, slots=True)
class SavedAudience:
    """A saved audience and its bitmap."""

    info: AudienceInfo
    bitmap: FrozenBitMap


def check_name(name: str) -> str:
    """Return name if it is a valid audience name, else raise InvalidArgumentError."""
    if not NAME_RULE.fullmatch(name):
        shown = name if len(name) <= 40 else name[:40] + "..."
        raise InvalidArgumentError(
            f'audience name "{shown}" is not valid: use 1-128 letters, digits, "_", "-", "." '
            'and do not start with "." or "-"'
        )
    return name


class AudienceStore:
    """All saved audiences of a data dir, held in memory and persisted one file per audience."""

    def __init__(self, data_dir: pathlib.Path) -> None:
        self.root = layout.audiences_dir(data_dir)
        self._lock = threading.Lock()
        self._items: dict[str, SavedAudience] = {}
        self._seen: dict[str, int] = {}
        self.refresh()

    def refresh(self) -> None:
        """Pick up audiences saved, replaced or deleted by other processes sharing the data dir."""
        if not self.root.is_dir():
            return
        on_disk = {}
        for path in self.root.glob(f"*{SUFFIX}"):
            try:
                on_disk[path.name[: -len(SUFFIX)]] = path.stat().st_mtime_ns
            except FileNotFoundError:
                continue
        with self._lock:
            for name in set(self._items) - set(on_disk):
                del self._items[name]
            for name, mtime in on_disk.items():
                if self._seen.get(name) != mtime or name not in self._items:
                    self._read(name, mtime)
            self._seen = on_disk

    def _read(self, name: str, mtime: int) -> None:
        path = self.root / f"{name}{SUFFIX}"
        try:
            meta, bitmap = decode_audience(path.read_bytes(), str(path))
        except (OSError, SnapshotError, ValueError) as exc:
            log.error("skipping damaged saved audience %s: %s", path, exc)
            return
        info = AudienceInfo(**meta)
        self._items[info.name] = SavedAudience(info, bitmap)

    def __len__(self) -> int:
        return len(self._items)

    def _item(self, name: str) -> SavedAudience:
        item = self._items.get(name)
        if item is None and NAME_RULE.fullmatch(name) and (self.root / f"{name}{SUFFIX}").exists():
            self.refresh()  # saved by another process since the last refresh
            item = self._items.get(name)
        if item is None:
            raise AudienceNotFoundError(name)
        return item

    def bitmap(self, name: str) -> AbstractBitMap:
        """Return the bitmap of a saved audience."""
        return self._item(name).bitmap

    def get(self, name: str) -> AudienceInfo:
        """Return a saved audience's description."""
        return self._item(name).info

    def names(self) -> list[str]:
        """Return all names, sorted."""
        return sorted(self._items)

    def save(
        self, name: str, expression: str, bitmap: AbstractBitMap, version: int, *, overwrite: bool,
        unknown_ids: int = 0,
    ) -> AudienceInfo:
        """Persist a materialised audience (fsynced) and make it visible as @name (unknown_ids: of an imported
        bitmap, the IDs left out)."""
        check_name(name)
        frozen = bitmap if isinstance(bitmap, FrozenBitMap) else FrozenBitMap(bitmap)
        info = AudienceInfo(name, expression, len(frozen), version, time.time(), unknown_ids)
        with self._lock:
            if name in self._items and not overwrite:
                raise AudienceExistsError(name)
            self.root.mkdir(parents=True, exist_ok=True)
            meta = {f: getattr(info, f) for f in info.__slots__}
            path = self.root / f"{name}{SUFFIX}"
            atomic_write(path, encode_audience(meta, frozen))
            self._items[name] = SavedAudience(info, frozen)
            self._seen[name] = path.stat().st_mtime_ns
        return info

    def delete(self, name: str) -> AudienceInfo:
        """Remove a saved audience from disk and memory."""
        with self._lock:
            item = self._items.get(name)
            if item is None:
                raise AudienceNotFoundError(name)
            path = self.root / f"{name}{SUFFIX}"
            if path.exists():
                os.unlink(path)
                fsync_dir(self.root)
            del self._items[name]
            self._seen.pop(name, None)
        return item.info
