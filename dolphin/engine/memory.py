"""Memory: what a bitmap, an array or a cached figure holds (the read caches' accounting in Status), and what a
server asks of glibc's allocator (freed heap back to the OS, a cap on its arenas, a fixed mmap threshold)."""

from __future__ import annotations

import ctypes

import numpy as np
from pyroaring import AbstractBitMap


def return_free_memory() -> None:
    """Hand freed heap back to the OS (glibc keeps it otherwise): after a load, 596 -> 388 MB at 10M users; after
    full exports of 5.3M users, about 50 MB, in 3-4 ms."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


M_ARENA_MAX = -8  # glibc's mallopt parameters
M_MMAP_THRESHOLD = -3
SERVER_ARENAS = 2
SERVER_MMAP_THRESHOLD = 4 << 20


def _mallopt(parameter: int, value: int) -> None:
    try:
        ctypes.CDLL("libc.so.6").mallopt(parameter, value)
    except (OSError, AttributeError):  # not glibc: its defaults stay
        pass


def limit_malloc_arenas(arenas: int = SERVER_ARENAS) -> None:
    """Cap glibc's malloc arenas (8 per core by default): each thread that allocates (workers, the stream writer,
    gRPC's) would otherwise keep an arena of its own with its own free holes. At 10M users, RSS after every
    query type went 686 -> 594 MB (bench/memory.py, GLIBC_TUNABLES arena_max=2, one run each); with the GIL
    held around most allocations, two arenas are rarely contended. It caps the arenas made after the call:
    call it before threads start."""
    _mallopt(M_ARENA_MAX, arenas)


def map_large_allocations(threshold: int = SERVER_MMAP_THRESHOLD) -> None:
    """Serve allocations of `threshold` bytes and more from mappings of their own, returned to the OS when freed.

    glibc raises its mmap threshold to the size of each mapped block freed (up to 32 MB), so after the first
    large NumPy array (an audience's IDs, a full export's pages) the next ones come from the heap, and the heap
    keeps them. At 10M users RSS after every query type went 535 -> 520 MB, and 505 -> 448 MB without read
    caches (bench/memory.py). 4 MB, not less: at 1 MB the stream writer's per-group arrays (about 1.6 MB for
    200,000 mutations) were mapped and unmapped every group, and ingest lost 10-15%.
    """
    _mallopt(M_MMAP_THRESHOLD, threshold)


def bitmap_bytes(bitmap: AbstractBitMap) -> int:
    """Return the bytes of a bitmap's containers (what CRoaring allocated for its values)."""
    stats = bitmap.get_statistics()
    return int(stats["n_bytes_array_containers"] + stats["n_bytes_run_containers"]
               + stats["n_bytes_bitset_containers"])


def value_bytes(value: object) -> int:
    """Return the bytes held by a cached value: bitmaps and arrays, also inside tuples, lists and dicts."""
    if isinstance(value, AbstractBitMap):
        return bitmap_bytes(value)
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, tuple | list):
        return sum(value_bytes(v) for v in value)
    if isinstance(value, dict):
        return sum(value_bytes(v) for v in value.values())
    return 0
