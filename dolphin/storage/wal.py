"""Write-ahead log: framed, checksummed records in segment files, with torn-tail recovery.

Groundwork for stream ingest (the stream issue): the record format, appends with an fsync policy, and the scan
that recovery runs. Segment layout::

    segment header (24 B): b"DLPHWAL1" | generation u64 | first position u64
    record header  (24 B): magic u32 | format u16 | flags u16 | length u32 | generation u64 | crc32 u32
    payload        (length bytes)

The crc32 covers the record header before it plus the payload. Every record repeats its segment's random
generation, so bytes left over from an older segment can never validate (SQLite's salt). A record's position
is the segment's first position plus its byte offset after the segment header, so positions are global.
Lengths above max_record_bytes are rejected before anything is read or allocated (etcd#14098).
"""

from __future__ import annotations

import logging
import os
import pathlib
import secrets
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from dolphin.errors import WalCorruptError
from dolphin.storage.fsutil import fsync_dir

log = logging.getLogger("dolphin.storage")

SEGMENT_MAGIC = b"DLPHWAL1"
RECORD_MAGIC = 0xD01F1A7E
FORMAT = 1
SEGMENT = struct.Struct("<8sQQ")
RECORD = struct.Struct("<IHHIQI")
RECORD_PREFIX = RECORD.size - 4  # the part of the header the crc covers
DEFAULT_MAX_RECORD = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Record:
    """One valid record: its global position and payload."""

    position: int
    payload: bytes

    @property
    def end(self) -> int:
        """Return the position just after this record."""
        return self.position + RECORD.size + len(self.payload)


@dataclass(slots=True)
class Scan:
    """What a segment holds: its valid records, where they end, and what follows them if not clean."""

    path: pathlib.Path
    generation: int
    first_position: int
    records: list[Record] = field(default_factory=list)
    good_end: int = SEGMENT.size  # byte offset just after the last valid record
    tail_bytes: int = 0  # bytes after good_end that are not a valid record (a torn tail)
    tail_reason: str = ""


def _record_at(data: memoryview, offset: int, generation: int, max_record: int) -> tuple[bytes, int] | str:
    """Return (payload, next offset) of a valid record at offset, or why there is none."""
    if len(data) - offset < RECORD.size:
        return "truncated header"
    magic, fmt, _flags, length, gen, crc = RECORD.unpack_from(data, offset)
    if magic != RECORD_MAGIC or fmt != FORMAT:
        return "bad magic"
    if length > max_record:
        return f"length {length} over the {max_record}-byte limit"
    if gen != generation:
        return "generation of another segment"
    end = offset + RECORD.size + length
    if end > len(data):
        return "truncated payload"
    payload = bytes(data[offset + RECORD.size : end])
    if zlib.crc32(payload, zlib.crc32(data[offset : offset + RECORD_PREFIX])) != crc:
        return "checksum mismatch"
    return payload, end


def _valid_record_after(data: memoryview, start: int, generation: int, max_record: int) -> int | None:
    """Return the offset of a valid record somewhere after start, if any (corruption vs. torn tail)."""
    needle = struct.pack("<I", RECORD_MAGIC)
    offset = bytes(data).find(needle, start + 1)
    while offset != -1:
        if not isinstance(_record_at(data, offset, generation, max_record), str):
            return offset
        offset = bytes(data).find(needle, offset + 1)
    return None


def scan_segment(path: pathlib.Path, *, max_record: int = DEFAULT_MAX_RECORD, until: int | None = None) -> Scan:
    """Read a segment; a bad record followed by a valid one raises WalCorruptError, else it is a torn tail.

    With until (a byte offset known to be corrupt), only the records before it are read.
    """
    raw = path.read_bytes()
    data = memoryview(raw if until is None else raw[:until])
    if len(data) < SEGMENT.size or bytes(data[:8]) != SEGMENT_MAGIC:
        raise WalCorruptError(path, 0, "not a WAL segment")
    _, generation, first = SEGMENT.unpack_from(data)
    scan = Scan(path, generation, first)
    offset = SEGMENT.size
    while offset < len(data):
        found = _record_at(data, offset, generation, max_record)
        if isinstance(found, str):
            if _valid_record_after(data, offset, generation, max_record) is not None:
                raise WalCorruptError(path, offset, found)
            scan.tail_bytes, scan.tail_reason = len(data) - offset, found
            break
        payload, end = found
        scan.records.append(Record(first + offset - SEGMENT.size, payload))
        offset = scan.good_end = end
    return scan


def truncate_tail(scan: Scan) -> None:
    """Cut a torn tail off at the last good record boundary, durably."""
    if not scan.tail_bytes:
        return
    with open(scan.path, "rb+") as fh:
        fh.truncate(scan.good_end)
        fh.flush()
        os.fsync(fh.fileno())


class FileOps:
    """The file system calls the log makes; tests substitute a layer that can lose un-fsynced writes."""

    def open_new(self, path: pathlib.Path) -> int:
        """Create and open a file for appending; it must not exist."""
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)

    def write(self, fd: int, data: memoryview) -> int:
        """Write some of data; return how many bytes."""
        return os.write(fd, data)

    def fsync(self, fd: int) -> None:
        """Make a file's writes durable."""
        os.fsync(fd)

    def truncate(self, fd: int, size: int) -> None:
        """Cut a file back to size and write from there on."""
        os.ftruncate(fd, size)
        os.lseek(fd, size, os.SEEK_SET)

    def fsync_dir(self, path: pathlib.Path) -> None:
        """Make the creation of files in a directory durable."""
        fsync_dir(path)

    def close(self, fd: int) -> None:
        """Close a file."""
        os.close(fd)


class WalWriter:
    """Appends records to one segment; `sync()` makes everything appended so far durable."""

    def __init__(self, directory: pathlib.Path, first_position: int = 0, *,
                 max_record: int = DEFAULT_MAX_RECORD, ops: FileOps | None = None) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.ops = ops or FileOps()
        self.path = segment_path(directory, first_position)
        self.generation = secrets.randbits(64)
        self.max_record = max_record
        self.fd = self.ops.open_new(self.path)
        self.first_position = first_position
        self.offset = 0
        try:
            self._write(SEGMENT.pack(SEGMENT_MAGIC, self.generation, first_position))
            self.ops.fsync(self.fd)
            self.ops.fsync_dir(directory)
        except OSError:
            self.ops.close(self.fd)
            self.path.unlink(missing_ok=True)
            raise
        self.offset = SEGMENT.size

    @property
    def position(self) -> int:
        """Return the position the next record will get."""
        return self.first_position + self.offset - SEGMENT.size

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:  # short writes happen (RLIMIT_FSIZE, signals): loop until all is written
            written = self.ops.write(self.fd, view)
            view = view[written:]

    def append(self, payload: bytes) -> int:
        """Append one record (not yet durable); return its position."""
        if len(payload) > self.max_record:
            raise ValueError(f"record of {len(payload)} bytes over the {self.max_record}-byte limit")
        prefix = RECORD.pack(RECORD_MAGIC, FORMAT, 0, len(payload), self.generation, 0)[:RECORD_PREFIX]
        crc = zlib.crc32(payload, zlib.crc32(prefix))
        position = self.first_position + self.offset - SEGMENT.size
        try:
            self._write(prefix + struct.pack("<I", crc) + payload)
        except OSError:
            # leave the file at a record boundary (ENOSPC, EFBIG) and write the next record there, not after a hole
            self.ops.truncate(self.fd, self.offset)
            raise
        self.offset += RECORD.size + len(payload)
        return position

    def sync(self) -> None:
        """Fsync the segment: every record appended so far survives a crash."""
        self.ops.fsync(self.fd)

    def close(self) -> None:
        """Close the segment file."""
        self.ops.close(self.fd)


def segment_path(directory: pathlib.Path, first_position: int) -> pathlib.Path:
    """Return the file of the segment starting at a position."""
    return directory / f"{first_position:020d}.wal"


def list_segments(directory: pathlib.Path) -> list[pathlib.Path]:
    """Return the segment files of a log directory, oldest first."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.glob("*.wal") if p.stem.isdigit())


@dataclass(slots=True)
class Recovery:
    """What opening a log found: its valid records, where the next one goes, and what was cut off."""

    records: list[Record]
    end_position: int
    truncated: list[str] = field(default_factory=list)  # human-readable, one line per cut


def _segment_end(scan: Scan) -> int:
    return scan.first_position + scan.good_end - SEGMENT.size


def _drop_after(scans: list[Scan], index: int, reason: str) -> list[str]:
    """Drop everything after a corrupt record: truncate its segment and delete the later ones."""
    notes = []
    scan = scans[index]
    lost = sum(len(s.records) for s in scans[index + 1 :])
    with open(scan.path, "rb+") as fh:
        size = fh.seek(0, os.SEEK_END)
        fh.truncate(scan.good_end)
        os.fsync(fh.fileno())
    notes.append(f"WAL cut at corruption: {size - scan.good_end} bytes at offset {scan.good_end} in file "
                 f"{scan.path} ({reason}); {lost} valid records after it in later segments dropped")
    for later in scans[index + 1 :]:
        later.path.unlink()
    fsync_dir(scan.path.parent)
    del scans[index + 1 :]
    return notes


def recover(directory: pathlib.Path, *, max_record: int = DEFAULT_MAX_RECORD,
            truncate_at_corruption: bool = False) -> Recovery:
    """Scan every segment, cut a torn tail off the last one, and refuse (WalCorruptError) on damage before it.

    With truncate_at_corruption, damage in the middle drops it and everything after it instead.
    """
    scans: list[Scan] = []
    notes: list[str] = []
    paths = list_segments(directory)
    for i, path in enumerate(paths):
        try:
            scan = scan_segment(path, max_record=max_record)
        except WalCorruptError as exc:
            if not truncate_at_corruption:
                raise
            scan = scan_segment(path, max_record=max_record, until=exc.offset)
            scans.append(scan)
            notes += _drop_after(scans, len(scans) - 1, "corrupt record")
            break
        scans.append(scan)
        if scan.tail_bytes and i < len(paths) - 1:
            if not truncate_at_corruption:
                raise WalCorruptError(path, scan.good_end, f"{scan.tail_reason}; later segments hold records")
            notes += _drop_after(scans, len(scans) - 1, scan.tail_reason)
            break
    if scans and scans[-1].tail_bytes:
        last = scans[-1]
        truncate_tail(last)
        notes.append(f"WAL tail truncated: {last.tail_bytes} bytes at offset {last.good_end} in file {last.path} "
                     f"(crash during write: {last.tail_reason})")
    for note in notes:
        log.warning("%s", note)
    records = [r for s in scans for r in s.records]
    return Recovery(records, _segment_end(scans[-1]) if scans else 0, notes)


def iter_records(directory: pathlib.Path, *, max_record: int = DEFAULT_MAX_RECORD) -> Iterator[Record]:
    """Yield the valid records of every segment, oldest first (a torn tail ends the last segment)."""
    for path in list_segments(directory):
        yield from scan_segment(path, max_record=max_record).records


def remove_segments_before(directory: pathlib.Path, position: int, *, keep_newer_than: float = 0.0) -> list[str]:
    """Delete segments wholly before a position (the next one starts at or before it) and not newer than a time."""
    paths = list_segments(directory)
    removed = []
    for path, following in zip(paths, paths[1:], strict=False):
        if int(following.stem) <= position and path.stat().st_mtime < keep_newer_than:
            path.unlink()
            removed.append(path.name)
    if removed:
        fsync_dir(directory)
    return removed
