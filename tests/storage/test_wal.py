"""WAL records: round trip, torn tails at every byte, corruption in the middle, oversize lengths, short writes."""

from __future__ import annotations

import os
import pathlib
import random

import pytest

from dolphin.errors import WalCorruptError
from dolphin.storage.wal import RECORD, SEGMENT, WalWriter, scan_segment, truncate_tail


def write_log(directory: pathlib.Path, payloads: list[bytes]) -> pathlib.Path:
    writer = WalWriter(directory)
    for payload in payloads:
        writer.append(payload)
    writer.sync()
    writer.close()
    return writer.path


PAYLOADS = [f"batch {i} ".encode() * (i + 1) for i in range(6)]


def test_round_trip_positions(tmp_path: pathlib.Path) -> None:
    path = write_log(tmp_path, PAYLOADS)
    scan = scan_segment(path)
    assert [r.payload for r in scan.records] == PAYLOADS and scan.tail_bytes == 0
    positions = [r.position for r in scan.records]
    assert positions[0] == 0 and all(b - a == RECORD.size + len(p) for a, b, p in zip(positions, positions[1:],
                                                                                      PAYLOADS, strict=False))


def test_torn_tail_at_every_byte_of_the_last_record(tmp_path: pathlib.Path) -> None:
    full = write_log(tmp_path, PAYLOADS).read_bytes()
    last_start = len(full) - RECORD.size - len(PAYLOADS[-1])
    for cut in range(last_start + 1, len(full)):
        path = tmp_path / "torn.wal"
        path.write_bytes(full[:cut])
        scan = scan_segment(path)
        assert [r.payload for r in scan.records] == PAYLOADS[:-1], cut
        assert scan.good_end == last_start and scan.tail_bytes == cut - last_start
        truncate_tail(scan)
        assert path.read_bytes() == full[:last_start]  # records 1..n-1 byte-identical


@pytest.mark.parametrize("garbage", [b"\x00" * 100, bytes(random.Random(1).randbytes(300)), b"\x7e\x1a\x1f\xd0"])
def test_garbage_after_the_last_record_is_a_torn_tail(tmp_path: pathlib.Path, garbage: bytes) -> None:
    path = write_log(tmp_path, PAYLOADS)
    with open(path, "ab") as fh:
        fh.write(garbage)
    scan = scan_segment(path)
    assert [r.payload for r in scan.records] == PAYLOADS and scan.tail_bytes == len(garbage)


@pytest.mark.parametrize("seed", range(20))
def test_corruption_in_the_middle_refuses(tmp_path: pathlib.Path, seed: int) -> None:
    path = write_log(tmp_path, PAYLOADS)
    data = bytearray(path.read_bytes())
    first_end = SEGMENT.size + RECORD.size + len(PAYLOADS[0])
    second_end = first_end + RECORD.size + len(PAYLOADS[1])
    flip = random.Random(seed).randrange(first_end, second_end)  # inside record 2 of 6
    data[flip] ^= 0x40
    path.write_bytes(bytes(data))
    with pytest.raises(WalCorruptError, match=f"at byte {first_end} "):
        scan_segment(path)


def test_huge_length_is_rejected_before_reading(tmp_path: pathlib.Path) -> None:
    path = write_log(tmp_path, PAYLOADS[:1])
    data = bytearray(path.read_bytes())
    data[SEGMENT.size + 8 : SEGMENT.size + 12] = (2**31).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    scan = scan_segment(path, max_record=1024)
    assert scan.records == [] and "over the 1024-byte limit" in scan.tail_reason


def test_records_of_an_older_generation_never_validate(tmp_path: pathlib.Path) -> None:
    old = write_log(tmp_path / "a", PAYLOADS).read_bytes()
    new = write_log(tmp_path / "b", PAYLOADS[:2]).read_bytes()
    mixed = tmp_path / "mixed.wal"
    mixed.write_bytes(new + old[len(new):])  # stale bytes of another segment after the new records
    scan = scan_segment(mixed)
    assert [r.payload for r in scan.records] == PAYLOADS[:2]


def test_failed_append_leaves_a_record_boundary(tmp_path: pathlib.Path) -> None:
    import resource
    import signal

    writer = WalWriter(tmp_path)
    writer.append(b"first")
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (writer.offset + 100, hard))
    try:
        with pytest.raises(OSError):
            writer.append(b"x" * 1000)  # short write, then EFBIG
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old_handler)
    writer.append(b"third")
    writer.sync()
    writer.close()
    assert [r.payload for r in scan_segment(writer.path).records] == [b"first", b"third"]
    assert os.path.getsize(writer.path) == writer.offset
