"""Path rules of a data directory.

    <data-dir>/versions/<version, 10 digits>/manifest.json, ids.parquet, shard-<n>.bitmaps
    <data-dir>/versions/.tmp-*        a version being written (ignored; cleaned by the next writer)
    <data-dir>/audiences/<name>.audience
    <data-dir>/wal/<first position, 20 digits>.wal   write-ahead log segments of stream ingest
"""

from __future__ import annotations

import pathlib

MANIFEST = "manifest.json"
IDS_FILE = "ids.parquet"
IDS_DELTA_FILE = "ids-delta.parquet"
OVERLAY_FILE = "overlay.bitmaps"
TMP_PREFIX = ".tmp-"


def versions_dir(data_dir: pathlib.Path) -> pathlib.Path:
    """Return the directory holding snapshot versions."""
    return data_dir / "versions"


def wal_dir(data_dir: pathlib.Path) -> pathlib.Path:
    """Return the directory holding the write-ahead log."""
    return data_dir / "wal"


def audiences_dir(data_dir: pathlib.Path) -> pathlib.Path:
    """Return the directory holding saved audiences."""
    return data_dir / "audiences"


def version_name(version: int) -> str:
    """Return the directory name of a version."""
    return f"{version:010d}"


def shard_file(shard: int) -> str:
    """Return the file name of a shard (a dense-ID range)."""
    return f"shard-{shard:05d}.bitmaps"


def list_versions(data_dir: pathlib.Path) -> list[int]:
    """Return the committed version numbers on disk, ascending; stray names are ignored."""
    root = versions_dir(data_dir)
    if not root.is_dir():
        return []
    return sorted(int(p.name) for p in root.iterdir() if p.is_dir() and p.name.isdigit())
