"""Durable file writes: temp name, fsync, rename, fsync the directory."""

from __future__ import annotations

import errno
import os
import pathlib
import re
import zlib
from collections.abc import Iterable

from dolphin.errors import StorageFullError

FULL_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}
_OS_ERROR = re.compile(r"\(os error (\d+)\)")


def fsync_dir(path: pathlib.Path) -> None:
    """Fsync a directory so that renames and creations inside it survive a crash."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_synced(path: pathlib.Path, chunks: Iterable[bytes]) -> tuple[int, int]:
    """Write chunks to a new file and fsync it; returns (bytes, crc32)."""
    size = 0
    crc = 0
    with open(path, "xb") as fh:
        for chunk in chunks:
            fh.write(chunk)
            size += len(chunk)
            crc = zlib.crc32(chunk, crc)
        fh.flush()
        os.fsync(fh.fileno())
    return size, crc


def atomic_write(path: pathlib.Path, data: bytes) -> None:
    """Replace path with data atomically: readers see the old file or the new one, never a mix."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write_synced(tmp, [data])
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)


def file_crc32(path: pathlib.Path, block: int = 1 << 22) -> tuple[int, int]:
    """Return (bytes, crc32) of a file."""
    size = 0
    crc = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(block):
            size += len(chunk)
            crc = zlib.crc32(chunk, crc)
    return size, crc


def os_error_of(exc: Exception) -> OSError | None:
    """Return the OSError behind exc: itself, or the one a Polars I/O error names ("... (os error 28)")."""
    if isinstance(exc, OSError):
        return exc
    match = _OS_ERROR.search(str(exc))
    if match is None:
        return None
    code = int(match[1])
    return OSError(code, os.strerror(code))


def full_disk_error(exc: Exception, writing: str) -> StorageFullError | None:
    """Return the StorageFullError for a write that failed for want of room (ENOSPC, EFBIG, EDQUOT), else None."""
    cause = os_error_of(exc)
    if cause is None or cause.errno not in FULL_ERRNOS:
        return None
    return StorageFullError(f"data dir is full ({cause.strerror} writing {writing}); nothing was changed and "
                            "the current version stays as it was; free space or raise the volume size")
