"""Looking up many uint64 keys at once in one sorted array: a directory of bucket starts over the keys' range,
then a vectorised binary search inside each bucket.

np.searchsorted over 10M sorted keys costs about 23 dependent cache misses per lookup (0.6-1 us); the stream's
ID lookup was a quarter of the server's CPU at 220k mutations/s. With about 4 keys per bucket, a lookup reads
the directory and one cache line of its bucket. The directory holds uint32 offsets when the keys allow (every
dictionary under 4G users), so 4 keys per bucket take the memory 8 did with int64 offsets (9 MB for 10M integer
IDs), and 100,000 lookups take 141 instead of 192 ns each (143 against 177 for hashed string IDs, interleaved).
"""

from __future__ import annotations

import numpy as np

KEYS_PER_BUCKET = 4


class SortedKeys:
    """An ascending uint64 (or uint32) array and its bucket directory (immutable)."""

    def __init__(self, keys: np.ndarray) -> None:
        self.keys = np.ascontiguousarray(keys, dtype=np.uint32 if keys.dtype == np.uint32 else np.uint64)
        n = len(self.keys)
        self.low = int(self.keys[0]) if n else 0
        self.high = int(self.keys[-1]) if n else -1
        span = max(0, self.high - self.low)
        bits = max(1, (n // KEYS_PER_BUCKET).bit_length())
        self.shift = max(0, span.bit_length() - bits)
        buckets = (span >> self.shift) + 1 if n else 1
        bounds = np.uint64(self.low) + (np.arange(buckets, dtype=np.uint64) << np.uint64(self.shift))
        starts = np.append(np.searchsorted(self.keys, bounds), n)
        self.starts = starts.astype(np.uint32 if n < 2**32 else np.int64)

    def __len__(self) -> int:
        return len(self.keys)

    def positions(self, queries: np.ndarray) -> np.ndarray:
        """Return the index of each query in keys (int64), -1 where it is absent."""
        out = np.full(len(queries), -1, dtype=np.int64)
        if not len(self.keys) or not len(queries):
            return out
        values = np.asarray(queries)
        mask = (values >= self.low) & (values <= self.high)  # also drops what the keys' type cannot hold
        inside = np.flatnonzero(mask)
        q = values[inside].astype(np.uint64)
        bucket = ((q - np.uint64(self.low)) >> np.uint64(self.shift)).astype(np.int64)
        lo, hi = self.starts[bucket].astype(np.int64), self.starts[bucket + 1].astype(np.int64)
        while True:  # lower bound inside [lo, hi): as many rounds as the largest bucket has bits
            active = lo < hi
            if not active.any():
                break
            mid = (lo + hi) >> 1
            right = active & (self.keys[np.where(active, mid, 0)].astype(np.uint64) < q)
            lo = np.where(right, mid + 1, lo)
            hi = np.where(active & ~right, mid, hi)
        at = np.minimum(lo, len(self.keys) - 1)
        hit = self.keys[at].astype(np.uint64) == q
        out[inside[hit]] = at[hit]
        return out
