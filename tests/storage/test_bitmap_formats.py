"""Bitmap interchange formats: round trips, golden bytes from Doris's and StarRocks's documentation, states
made and read by a real ClickHouse (chdb), and damaged input that must fail cleanly."""

from __future__ import annotations

import base64
import pathlib

import chdb
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dolphin.storage.bitmap_formats import BitmapFormat, decode_ids, encode_ids, portable32_size

FORMATS = list(BitmapFormat)


def ids_of(values: list[int]) -> np.ndarray:
    return np.unique(np.array(values, dtype=np.uint64))


ID_SETS = st.one_of(
    st.lists(st.integers(0, 2**32 - 1), max_size=60),
    st.lists(st.integers(0, 2**63 - 1), max_size=60),
    st.builds(lambda start, n, step: list(range(start, start + n * step, step)),  # runs and bitset containers
              st.integers(0, 2**40), st.integers(0, 20_000), st.sampled_from([1, 2, 7])),
)


@settings(max_examples=150, deadline=None)
@given(ID_SETS, st.sampled_from(FORMATS), st.booleans())
def test_every_format_round_trips(values: list[int], fmt: BitmapFormat, wide: bool) -> None:
    ids = ids_of(values)
    assert np.array_equal(decode_ids(encode_ids(ids, fmt, wide=wide), fmt), ids)


# Golden values from the vendors' documentation:
# - Doris, BITMAP_TO_BASE64 / BITMAP_FROM_BASE64 examples (doris.apache.org; mirrored at
#   https://cloud.baidu.com/doc/PALO/s/Cmciqv0pu and https://cloud.baidu.com/doc/PALO/s/mmciqu456)
# - StarRocks, bitmap_to_base64 examples
#   (https://docs.starrocks.io/docs/sql-reference/sql-functions/bitmap-functions/bitmap_to_base64)
# The type codes are Doris's BitmapTypeCode (apache/doris be/src/util/bitmap_value.h).
DORIS_GOLDEN = [
    ("AA==", []),  # bitmap_empty(): EMPTY
    ("AQEAAAA=", [1]),  # to_bitmap(1): SINGLE32
    ("AjowAAACAAAAAAAAAJgAAAAYAAAAGgAAAAEAf5Y=", [1, 9999999]),  # Doris: BITMAP32 + portable Roaring
    ("AjowAAABAAAAAAADABAAAAAAAAEAAgADAA==", [0, 1, 2, 3]),  # StarRocks: the same layout
]


@pytest.mark.parametrize(("encoded", "values"), DORIS_GOLDEN)
def test_doris_and_starrocks_golden_bytes(encoded: str, values: list[int]) -> None:
    raw = base64.b64decode(encoded)
    assert decode_ids(raw, BitmapFormat.DORIS).tolist() == values
    assert encode_ids(ids_of(values), BitmapFormat.DORIS) == raw


def test_doris_64_bit_and_newer_types() -> None:
    wide = ids_of([5, 2**40 + 1, 2**40 + 9, 2**50])
    raw = encode_ids(wide, BitmapFormat.DORIS)
    assert raw[0] == 4 and raw[1] == 3  # BITMAP64, varint bucket count 3 (high words 0, 2^8, 2^18)
    assert decode_ids(raw, BitmapFormat.DORIS).tolist() == wide.tolist()
    assert decode_ids(bytes([3]) + (2**40).to_bytes(8, "little"), BitmapFormat.DORIS).tolist() == [2**40]
    set_v1 = bytes([5, 2]) + (9).to_bytes(8, "little") + (4).to_bytes(8, "little")
    set_v2 = bytes([10]) + (2).to_bytes(4, "little") + (9).to_bytes(8, "little") + (4).to_bytes(8, "little")
    native_array = bytes([12, 1]) + (2).to_bytes(4, "little") + (9).to_bytes(4, "little") + (4).to_bytes(4, "little")
    portable = encode_ids(ids_of([4, 9]), BitmapFormat.ROARING)
    native_portable = bytes([12, 2]) + portable
    native_64 = bytes([13, 1]) + (1).to_bytes(4, "little") + bytes([2]) + portable
    for raw in (set_v1, set_v2, native_array, native_portable):
        assert decode_ids(raw, BitmapFormat.DORIS).tolist() == [4, 9]
    assert decode_ids(native_64, BitmapFormat.DORIS).tolist() == [2**32 + 4, 2**32 + 9]


def clickhouse_state(query: str) -> bytes:
    return bytes.fromhex(chdb.query(f"SELECT hex(({query}))", "CSV").bytes().decode().strip().strip('"'))


@pytest.mark.parametrize(("source", "kind"), [
    ("toUInt32(number)", "UInt32"), ("toUInt32(number * 1000)", "UInt32"), ("toUInt32(number * 7 + 3)", "UInt32"),
    ("toUInt64(number + 5000000000)", "UInt64"), ("toUInt64(number * 1000)", "UInt64"),
    ("toUInt64(number * 4294967311)", "UInt64"),
])
@pytest.mark.parametrize("n", [0, 1, 3, 32, 33, 70_000])
def test_clickhouse_states_made_by_clickhouse_decode_and_ours_load_in_clickhouse(
        source: str, kind: str, n: int, tmp_path: pathlib.Path) -> None:
    state = clickhouse_state(f"SELECT groupBitmapState({source}) FROM numbers({n})")
    want = np.array(chdb.query(f"SELECT arrayJoin(bitmapToArray(groupBitmapState({source}))) AS v FROM "
                               f"numbers({n}) ORDER BY v", "CSV").bytes().split(), dtype=np.uint64)
    assert np.array_equal(decode_ids(state, BitmapFormat.CLICKHOUSE), want)
    ours = encode_ids(want, BitmapFormat.CLICKHOUSE, wide=kind == "UInt64")
    if n <= 32 or kind == "UInt32":
        assert ours == state or n > 32  # the small form is byte for byte ClickHouse's
    (tmp_path / "state.bin").write_bytes(ours)  # as a file a warehouse job would load: RowBinary holds the state
    table = f"file('{tmp_path / 'state.bin'}', RowBinary, 'b AggregateFunction(groupBitmap, {kind})')"
    count = chdb.query(f"SELECT bitmapCardinality(b) FROM {table}", "CSV").bytes()
    assert int(count) == n
    back = chdb.query(f"SELECT arrayJoin(bitmapToArray(b)) AS v FROM {table} ORDER BY v", "CSV").bytes().split()
    assert np.array_equal(np.array(back, dtype=np.uint64), want)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("ids", [[], [7], list(range(0, 100_000, 3)), [1, 2**40, 2**63]])
def test_truncated_or_extended_bytes_are_value_errors(fmt: BitmapFormat, ids: list[int]) -> None:
    raw = encode_ids(ids_of(ids), fmt)
    for cut in sorted({1, len(raw) // 2, len(raw) - 1} - {0, len(raw)}):
        with pytest.raises(ValueError):
            decode_ids(raw[:cut], fmt)
    with pytest.raises(ValueError):
        decode_ids(raw + b"\x00", fmt)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.sampled_from(FORMATS))
def test_random_bytes_decode_or_fail_cleanly(raw: bytes, fmt: BitmapFormat) -> None:
    try:
        ids = decode_ids(raw, fmt)
    except ValueError:
        return
    assert ids.dtype == np.uint64 and np.all(np.diff(ids.astype(np.float64)) > 0)


def test_the_size_walker_agrees_with_croaring() -> None:
    from pyroaring import BitMap

    bitmap = BitMap(range(0, 200_000, 2)) | BitMap(range(300_000, 400_000))
    for optimise in (False, True):
        if optimise:
            bitmap.run_optimize()
        raw = bitmap.serialize()
        assert portable32_size(memoryview(raw + b"tail"), 0) == len(raw)
