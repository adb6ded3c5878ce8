"""Terms on numeric fields: `age < 30`, `spend BETWEEN 100 AND 500`, `age = 30`, `age IN (1, 2)`, `age != 30`.

Each becomes a Range plan node: a half-open range of stored integers (or a set of them), already narrowed by
the field's minimum and maximum, evaluated by the bit-sliced index only over the users that can still match
(the intersection of the other terms of an AND, when there are any). Users without a value match no term, as
NULL matches no comparison in SQL; `NOT age < 30` includes them, as NOT always does.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from pyroaring import AbstractBitMap, BitMap

from dolphin.engine.bsi import EMPTY, Field, lower_bound, upper_bound
from dolphin.engine.snapshot import Snapshot
from dolphin.errors import QueryTypeError
from dolphin.query import Between, Compare, In, NotIn, Tag
from dolphin.query.ast import format_expr
from dolphin.storage.numbers import exact_value


@dataclass(slots=True)
class Range:
    """Users of a numeric field with low <= value < high (None: open), or whose value is one of `equal`."""

    detail: str
    field: Field
    low: int | None = None
    high: int | None = None
    equal: tuple[int, ...] | None = None
    negate: bool = False  # with equal: the users with a value that is none of them (!=, NOT IN)

    @property
    def estimate(self) -> int:
        """An upper bound: the users with a value."""
        return len(self.field.exists)


def _exact(term: Tag | In | NotIn | Compare | Between, field: Field, text: str) -> Fraction:
    try:
        return exact_value(field.kind, text)
    except ValueError as exc:
        raise QueryTypeError(term.position, f'{exc}; "{field.name}" is a {field.kind} field') from None


def _integral(values: list[Fraction]) -> tuple[int, ...]:
    """Return the values a field can hold (a 2-place field holds no 1.234)."""
    return tuple(sorted({int(v) for v in values if v.denominator == 1}))


def numeric_term(term: Tag | In | NotIn | Compare | Between, snap: Snapshot) -> Range:
    """Return the Range of a term on a numeric field, narrowed by the field's bounds."""
    field = snap.numeric(term.dimension)
    detail = format_expr(term)
    match term:
        case Tag(value=v):
            return Range(detail, field, equal=_integral([_exact(term, field, v)]))
        case In(values=vs):
            return Range(detail, field, equal=_integral([_exact(term, field, v) for v in vs]))
        case NotIn(values=vs):
            return Range(detail, field, equal=_integral([_exact(term, field, v) for v in vs]), negate=True)
        case Compare(op=op, value=v):
            x = _exact(term, field, v)
            bounds = {"<": (None, upper_bound(x, False)), "<=": (None, upper_bound(x, True)),
                      ">": (lower_bound(x, False), None), ">=": (lower_bound(x, True), None)}[op]
            return _narrowed(Range(detail, field, *bounds), snap.bounds(term.dimension))
        case Between(low=lo, high=hi):
            low, high = lower_bound(_exact(term, field, lo), True), upper_bound(_exact(term, field, hi), True)
            return _narrowed(Range(detail, field, low, high), snap.bounds(term.dimension))
    raise TypeError(f"not a numeric term: {term!r}")


def _narrowed(node: Range, bounds: tuple[int, int] | None) -> Range:
    """Drop a bound every value meets and empty a range no value meets (the min/max short-cuts)."""
    if bounds is None:
        return Range(node.detail, node.field, equal=())
    smallest, largest = bounds
    low = None if node.low is not None and node.low <= smallest else node.low
    high = None if node.high is not None and node.high > largest else node.high
    if (low is not None and low > largest) or (high is not None and high <= smallest) or (
            low is not None and high is not None and low >= high):
        return Range(node.detail, node.field, equal=())
    return Range(node.detail, node.field, low, high)


def range_users(node: Range, within: AbstractBitMap) -> AbstractBitMap:
    """Return the users of within (users with a value) that the range holds."""
    field = node.field
    if node.equal is not None:
        hits = [field.equal_to(within, v) for v in node.equal]
        found = hits[0] if len(hits) == 1 else (BitMap.union(*hits) if hits else EMPTY)
        return within - found if node.negate else found
    users = within
    if node.high is not None:
        users = field.less_than(users, node.high)
    if node.low is not None and users:
        users = users - field.less_than(users, node.low)
    return users


def range_count(node: Range, within: AbstractBitMap) -> int:
    """Return how many users of within the range holds, with the count-only forms where they apply."""
    field = node.field
    if node.equal is not None:
        return len(range_users(node, within))
    if node.high is None:
        return len(within) - (field.count_less_than(within, node.low) if node.low is not None else 0)
    if node.low is None:
        return field.count_less_than(within, node.high)
    below_low, below_high = field.counts_less_than(within, [node.low, node.high])  # one pass for both ends
    return below_high - below_low
