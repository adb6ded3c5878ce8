"""Expression -> plan: resolve every term to a bitmap, flatten, and order intersections smallest first."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pyroaring import AbstractBitMap

from dolphin.engine.numeric_terms import Range, numeric_term
from dolphin.engine.snapshot import EMPTY, Snapshot
from dolphin.errors import InvalidArgumentError, QueryTypeError, UnknownDimensionError
from dolphin.query import All, And, Between, Compare, Event, Expr, In, Not, NotIn, Or, Saved, Tag
from dolphin.query.ast import format_expr, quote


@dataclass(slots=True)
class Leaf:
    """A stored bitmap, read and never copied."""

    op: str
    detail: str
    bitmap: AbstractBitMap

    @property
    def estimate(self) -> int:
        return len(self.bitmap)


@dataclass(slots=True)
class Union:
    """Users in any child."""

    op: str
    children: list[Node]
    population: int
    disjoint: bool = False  # no user in two children (values of a single-valued dimension): counts add up

    @property
    def estimate(self) -> int:
        return min(self.population, sum(c.estimate for c in self.children))


@dataclass(slots=True)
class Intersect:
    """Users in every positive and in no negative; positives sorted by estimate, smallest first."""

    positives: list[Node]
    negatives: list[Node] = field(default_factory=list)
    universe: int = 0  # the known population's size, for step_order's density estimates; 0: unknown

    @property
    def estimate(self) -> int:
        return min(c.estimate for c in self.positives)


@dataclass(slots=True)
class Complement:
    """Known users not in child."""

    child: Node
    population: Leaf

    @property
    def estimate(self) -> int:
        return max(0, self.population.estimate - self.child.estimate)


Node = Leaf | Union | Intersect | Complement | Range
SavedLookup = Callable[[str], AbstractBitMap]


class _Planner:
    def __init__(self, snapshot: Snapshot, saved: SavedLookup, strict: bool) -> None:
        self.snap = snapshot
        self.saved = saved
        self.strict = strict
        self.population = Leaf("all", "ALL", snapshot.population)

    def check_dimension(self, name: str, expr: Tag | In | NotIn | Compare | Between) -> None:
        if self.strict and not self.snap.has_dimension(name):
            raise UnknownDimensionError(name, self.snap.suggest_dimension(name), expr.position)

    def comparison(self, expr: Compare | Between) -> Node:
        """Plan a comparison, which only a numeric field takes."""
        self.check_dimension(expr.dimension, expr)
        if self.snap.is_numeric(expr.dimension):
            return numeric_term(expr, self.snap)
        if not self.snap.has_dimension(expr.dimension):
            return Leaf("empty", format_expr(expr), EMPTY)  # a cluster shard without the field: no users here
        op = expr.op if isinstance(expr, Compare) else "BETWEEN"
        raise QueryTypeError(expr.position, f'{op} compares numbers; "{expr.dimension}" is a tag dimension (use =, '
                                            "!= or IN)")

    def tag_leaf(self, dimension: str, value: str) -> Leaf:
        return Leaf("tag", f"{quote(dimension)}={quote(value)}", self.snap.tag(dimension, value))

    def values_union(self, dimension: str, values: tuple[str, ...]) -> Node:
        leaves: list[Node] = [self.tag_leaf(dimension, v) for v in dict.fromkeys(values)]
        leaves = [leaf for leaf in leaves if leaf.estimate]
        if not leaves:
            return Leaf("empty", f"{quote(dimension)} IN ()", EMPTY)
        if len(leaves) == 1:
            return leaves[0]
        return Union("in", leaves, len(self.snap.population), self.snap.is_single_valued(dimension))

    def plan(self, expr: Expr) -> Node:
        match expr:
            case Tag() | In() | NotIn() if self.snap.is_numeric(expr.dimension):
                return numeric_term(expr, self.snap)
            case Compare() | Between():
                return self.comparison(expr)
            case Tag(dimension=d, value=v):
                self.check_dimension(d, expr)
                return self.tag_leaf(d, v)
            case In(dimension=d, values=vs):
                self.check_dimension(d, expr)
                return self.values_union(d, vs)
            case NotIn(dimension=d, values=vs):
                self.check_dimension(d, expr)
                has_any = Leaf("any", f"{quote(d)} has a value", self.snap.any_of(d))
                return Intersect([has_any], [self.values_union(d, vs)])
            case Saved(name=n):
                return Leaf("saved", f"@{n}", self.saved(n))
            case Event(event=e, campaign=c, start=s, end=t):
                first, last = self.snap.events.span(c, e, self.strict)
                start, end = s or first, t or last
                if start > end:
                    raise InvalidArgumentError(f"event({e}): the date range {start} to {end} is reversed")
                return Leaf("event", format_expr(expr), self.snap.events.reach(c, e, start, end, self.strict))
            case All():
                return self.population
            case Not(child=c):
                return Complement(self.plan(c), self.population)
            case And(children=cs):
                return self.intersect([self.plan(c) for c in cs])
            case Or(children=cs):
                return self.union([self.plan(c) for c in cs])
        raise TypeError(f"not an expression: {expr!r}")

    def intersect(self, children: list[Node]) -> Node:
        return conjoin(children, self.population)

    def union(self, children: list[Node]) -> Node:
        flat: list[Node] = []
        for child in children:
            flat.extend(child.children if isinstance(child, Union) and child.op == "or" else [child])
        return Union("or", flat, len(self.snap.population))


def conjoin(children: list[Node], population: Leaf) -> Node:
    """Return the AND of plan nodes: nested ANDs flattened, NOTs as negatives, positives smallest first."""
    positives: list[Node] = []
    negatives: list[Node] = []
    for child in children:
        if isinstance(child, Complement):
            negatives.append(child.child)
        elif isinstance(child, Intersect):
            positives.extend(child.positives)
            negatives.extend(child.negatives)
        else:
            positives.append(child)
    if not positives:
        positives = [population]
    # Numeric ranges go last: they are evaluated only over the users the other terms leave (evaluate.py).
    positives.sort(key=lambda n: (isinstance(n, Range), n.estimate))
    return Intersect(positives, negatives, len(population.bitmap))


def plan(expr: Expr, snapshot: Snapshot, saved: SavedLookup, *, strict: bool = True) -> Node:
    """Return the plan of an expression on a snapshot; raises UnknownDimensionError, AudienceNotFoundError.

    Not strict (a cluster shard): an unknown dimension, campaign or event is empty, because another shard may
    know it; the cluster front checks names against every shard's.
    """
    return _Planner(snapshot, saved, strict).plan(expr)
