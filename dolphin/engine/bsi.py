"""Bit-sliced index (BSI) arithmetic over a numeric field's slices (see dolphin.storage.numbers).

Values are sign-magnitude: `negative` holds the users below zero and `bit_i` the bits of |value|. Everything
here is bitmap algebra whose cost grows with the number of bits, not of users:

- comparisons: O'Neil and Quass's algorithm over the magnitude slices, most significant bit first, with the
  field's min and max as short-cuts and count-only forms;
- sums: popcounts of each slice intersected with the users, weighted by 2^i;
- minimum, maximum, the k-th smallest value (exact percentiles) and the k largest or smallest (top-k): one
  walk down the slices, keeping the users whose prefix still qualifies.

`within` is always a subset of the field's `exists` bitmap (the caller intersects).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from pyroaring import AbstractBitMap, BitMap, FrozenBitMap

from dolphin.storage import DimensionKind
from dolphin.storage.numbers import BIT_NAMES, EXISTS, NEGATIVE

EMPTY = FrozenBitMap()


def _union(pieces: list[AbstractBitMap]) -> AbstractBitMap:
    pieces = [p for p in pieces if p]
    if not pieces:
        return EMPTY
    return pieces[0] if len(pieces) == 1 else BitMap.union(*pieces)


@dataclass(frozen=True, slots=True)
class Field:
    """One numeric field's slices on one snapshot."""

    name: str
    kind: DimensionKind
    exists: AbstractBitMap
    negative: AbstractBitMap
    bits: tuple[AbstractBitMap, ...]  # bits[i]: users with bit i of |value| set; as long as the highest set bit

    @staticmethod
    def of(name: str, kind: DimensionKind, slices: dict[str, FrozenBitMap]) -> Field:
        """Return the field stored as these tags (slice name -> bitmap)."""
        width = max((i + 1 for i, n in enumerate(BIT_NAMES) if n in slices), default=0)
        return Field(name, kind, slices.get(EXISTS, EMPTY), slices.get(NEGATIVE, EMPTY),
                     tuple(slices.get(BIT_NAMES[i], EMPTY) for i in range(width)))

    def split(self, within: AbstractBitMap) -> tuple[AbstractBitMap, AbstractBitMap]:
        """Return (users of within with a value >= 0, users with a value < 0)."""
        if not self.negative or not within.intersect(self.negative):
            return within, EMPTY
        return within - self.negative, within & self.negative

    # -- magnitudes ---------------------------------------------------------------------------------------
    def _high(self, length: int) -> AbstractBitMap:
        """Return the users whose magnitude has a bit at or above `length` set."""
        return _union(list(self.bits[length:]))

    def below(self, users: AbstractBitMap, m: int) -> AbstractBitMap:
        """Return the users whose magnitude is < m (O'Neil: each bit of m splits off the users already below)."""
        if m <= 0 or not users:
            return EMPTY
        length = m.bit_length()
        if length > len(self.bits):
            return users
        high = self._high(length)
        equal = users - high if high else users
        pieces: list[AbstractBitMap] = []
        for i in range(length - 1, -1, -1):
            if not equal:
                break
            bit = self.bits[i]
            if m >> i & 1:
                pieces.append(equal - bit if bit else equal)
                equal = equal & bit
            elif bit:
                equal = equal - bit
        return _union(pieces)

    def count_below(self, users: AbstractBitMap, m: int) -> int:
        """Return how many users have magnitude < m, building no result bitmap for the pieces."""
        if m <= 0 or not users:
            return 0
        length = m.bit_length()
        if length > len(self.bits):
            return len(users)
        high = self._high(length)
        equal = users - high if high else users
        total = 0
        for i in range(length - 1, -1, -1):
            if not equal:
                break
            bit = self.bits[i]
            if m >> i & 1:
                total += equal.difference_cardinality(bit) if bit else len(equal)
                if i:
                    equal = equal & bit
            elif bit:
                equal = equal - bit
        return total

    def equal(self, users: AbstractBitMap, m: int) -> AbstractBitMap:
        """Return the users whose magnitude is exactly m."""
        if m < 0 or m.bit_length() > len(self.bits) or not users:
            return EMPTY
        high = self._high(m.bit_length())
        found = users - high if high else users
        for i in range(m.bit_length() - 1, -1, -1):
            if not found:
                break
            found = found & self.bits[i] if m >> i & 1 else (found - self.bits[i] if self.bits[i] else found)
        return found

    def largest_magnitude(self, users: AbstractBitMap) -> int:
        """Return the largest magnitude among users (which must not be empty)."""
        found, value = users, 0
        for i in range(len(self.bits) - 1, -1, -1):
            if found.intersect(self.bits[i]):
                found, value = found & self.bits[i], value | 1 << i
        return value

    def smallest_magnitude(self, users: AbstractBitMap) -> int:
        """Return the smallest magnitude among users (which must not be empty)."""
        found, value = users, 0
        for i in range(len(self.bits) - 1, -1, -1):
            bit = self.bits[i]
            if not bit:
                continue
            zeros = found.difference_cardinality(bit)
            if zeros:
                found = found - bit
            else:
                value |= 1 << i
        return value

    def kth_magnitude(self, users: AbstractBitMap, rank: int) -> int:
        """Return the magnitude at 0-based rank (ascending) among users."""
        found, value = users, 0
        for i in range(len(self.bits) - 1, -1, -1):
            bit = self.bits[i]
            zeros = found.difference_cardinality(bit) if bit else len(found)
            if rank < zeros:
                if bit:
                    found = found - bit
            else:
                rank -= zeros
                found, value = found & bit, value | 1 << i
        return value

    def top_magnitudes(self, users: AbstractBitMap, k: int, *, largest: bool) -> AbstractBitMap:
        """Return the k users of largest (or smallest) magnitude; ties at the edge go to the lower dense IDs."""
        if k >= len(users):
            return users
        if k <= 0:
            return EMPTY
        taken: AbstractBitMap = EMPTY
        candidates = users
        for i in range(len(self.bits) - 1, -1, -1):
            bit = self.bits[i]
            preferred = (candidates & bit if largest else candidates - bit) if bit else (
                EMPTY if largest else candidates)
            grown = len(taken) + len(preferred)
            if grown > k:
                candidates = preferred
            else:
                taken = _union([taken, preferred])
                candidates = (candidates - bit if largest else candidates & bit) if bit else (
                    candidates if largest else EMPTY)
                if grown == k or not candidates:
                    break
        missing = k - len(taken)
        if missing > 0 and candidates:  # equal magnitudes: the lowest dense IDs
            taken = _union([taken, BitMap(candidates.to_array()[:missing])])
        return taken

    # -- signed values --------------------------------------------------------------------------------------
    def less_than(self, within: AbstractBitMap, c: int) -> AbstractBitMap:
        """Return the users of within whose value is < c."""
        positive, negative = self.split(within)
        if c > 0:
            return _union([negative, self.below(positive, c)])
        return negative - self.below(negative, -c + 1)  # |x| > |c|, for x < c <= 0

    def count_less_than(self, within: AbstractBitMap, c: int) -> int:
        """Return how many users of within have a value < c."""
        positive, negative = self.split(within)
        if c > 0:
            return len(negative) + self.count_below(positive, c)
        return len(negative) - self.count_below(negative, -c + 1)

    def equal_to(self, within: AbstractBitMap, c: int) -> AbstractBitMap:
        """Return the users of within whose value is c."""
        positive, negative = self.split(within)
        return self.equal(positive, c) if c >= 0 else self.equal(negative, -c)

    def total(self, within: AbstractBitMap) -> int:
        """Return the exact sum of the values of within, from popcounts of the slices."""
        positive, negative = self.split(within)
        total = sum(positive.intersection_cardinality(bit) << i for i, bit in enumerate(self.bits) if bit)
        if negative:
            total -= sum(negative.intersection_cardinality(bit) << i for i, bit in enumerate(self.bits) if bit)
        return total

    def sum_of_squares(self, within: AbstractBitMap) -> int:
        """Return the exact sum of squared values: sum of 2^(i+j) |within & bit_i & bit_j| over pairs of bits."""
        parts = [within & bit for bit in self.bits]
        total = 0
        for i, a in enumerate(parts):
            if not a:
                continue
            total += len(a) << 2 * i
            for j in range(i + 1, len(parts)):
                if parts[j]:
                    total += a.intersection_cardinality(parts[j]) << i + j + 1
        return total

    def minimum(self, within: AbstractBitMap) -> int:
        """Return the smallest value of within (not empty)."""
        positive, negative = self.split(within)
        return -self.largest_magnitude(negative) if negative else self.smallest_magnitude(positive)

    def maximum(self, within: AbstractBitMap) -> int:
        """Return the largest value of within (not empty)."""
        positive, negative = self.split(within)
        return self.largest_magnitude(positive) if positive else -self.smallest_magnitude(negative)

    def kth(self, within: AbstractBitMap, rank: int) -> int:
        """Return the value at 0-based rank, ascending, among within."""
        positive, negative = self.split(within)
        if rank < len(negative):
            return -self.kth_magnitude(negative, len(negative) - 1 - rank)
        return self.kth_magnitude(positive, rank - len(negative))

    def top(self, within: AbstractBitMap, k: int, *, descending: bool) -> AbstractBitMap:
        """Return the k users of within with the largest (descending) or smallest values."""
        positive, negative = self.split(within)
        # Descending: positives by largest magnitude, then negatives by smallest; ascending: negatives by largest
        # magnitude (the most negative), then positives by smallest.
        first, second = (positive, negative) if descending else (negative, positive)
        if k <= len(first):
            return self.top_magnitudes(first, k, largest=True)
        return _union([first, self.top_magnitudes(second, k - len(first), largest=False)])

    def values_of(self, users: np.ndarray) -> np.ndarray:
        """Return the int64 values of sorted dense IDs that all have a value."""
        out = np.zeros(len(users), dtype=np.int64)
        if not len(users):
            return out
        chosen = BitMap(users.astype(np.uint32).tolist()) if len(users) < 4096 else _bitmap(users)
        for i, bit in enumerate(self.bits):
            members = np.frombuffer((chosen & bit).to_array(), dtype=np.uint32) if bit else None
            if members is not None and len(members):
                out[np.searchsorted(users, members)] |= np.int64(1) << np.int64(i)
        if self.negative:
            negative = np.frombuffer((chosen & self.negative).to_array(), dtype=np.uint32)
            out[np.searchsorted(users, negative)] *= -1
        return out

    def ordered(self, users: AbstractBitMap, *, descending: bool) -> tuple[np.ndarray, np.ndarray]:
        """Return (dense IDs, values) of users sorted by value, ties by dense ID ascending."""
        ids = np.frombuffer(users.to_array(), dtype=np.uint32)
        values = self.values_of(ids)
        order = np.lexsort((ids, -values if descending else values))
        return ids[order], values[order]


def _bitmap(ids: np.ndarray) -> BitMap:
    from dolphin.storage import bitmap_from_array

    return bitmap_from_array(ids)


# -- bounds: a comparison's constant, rounded so that integer comparisons stay exact ------------------------------

def lower_bound(value: Fraction, inclusive: bool) -> int:
    """Return the smallest stored integer n with n >= value (inclusive) or n > value."""
    return math.ceil(value) if inclusive else math.floor(value) + 1


def upper_bound(value: Fraction, inclusive: bool) -> int:
    """Return the stored integer n such that x < n holds exactly for x <= value (inclusive) or x < value."""
    return math.floor(value) + 1 if inclusive else math.ceil(value)


def ranks_of(percentiles: Iterable[float], count: int) -> list[int]:
    """Return the 0-based ranks of exact percentiles (0-100) among count values, by the nearest-rank method:
    ceil(p/100 * count) - 1 (at least 0), as DuckDB's quantile_disc and ClickHouse's quantileExactLow pick them.
    The percentile is read as the decimal it prints as, so 90 means exactly 90/100."""
    return [min(count - 1, max(0, math.ceil(Fraction(repr(float(p))) / 100 * count) - 1)) for p in percentiles]
