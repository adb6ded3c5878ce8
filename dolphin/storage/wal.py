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

import os
import pathlib
import secrets
import struct
import zlib
from dataclasses import dataclass, field

from dolphin.errors import WalCorruptError
from dolphin.storage.fsutil import fsync_dir

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


def scan_segment(path: pathlib.Path, *, max_record: int = DEFAULT_MAX_RECORD) -> Scan:
    """Read a segment; a bad record followed by a valid one raises WalCorruptError, else it is a torn tail."""
    data = memoryview(path.read_bytes())
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


class WalWriter:
    """Appends records to one segment; `sync()` makes everything appended so far durable."""

    def __init__(self, directory: pathlib.Path, first_position: int = 0, *,
                 max_record: int = DEFAULT_MAX_RECORD) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{first_position:020d}.wal"
        self.generation = secrets.randbits(64)
        self.max_record = max_record
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        self._write(SEGMENT.pack(SEGMENT_MAGIC, self.generation, first_position))
        os.fsync(self.fd)
        fsync_dir(directory)
        self.first_position = first_position
        self.offset = SEGMENT.size

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:  # short writes happen (RLIMIT_FSIZE, signals): loop until all is written
            written = os.write(self.fd, view)
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
            os.ftruncate(self.fd, self.offset)  # leave the file at a record boundary (ENOSPC, EFBIG)
            os.lseek(self.fd, self.offset, os.SEEK_SET)  # and write the next record there, not after a hole
            raise
        self.offset += RECORD.size + len(payload)
        return position

    def sync(self) -> None:
        """Fsync the segment: every record appended so far survives a crash."""
        os.fsync(self.fd)

    def close(self) -> None:
        """Close the segment file."""
        os.close(self.fd)
