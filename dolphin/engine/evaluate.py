"""Plan -> bitmap or count. Counts use the cardinality-only operations; stored bitmaps are never changed, and a
chain of steps copies once into a private accumulator that the rest change in place (Acc)."""

from __future__ import annotations

import operator
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from pyroaring import AbstractBitMap, BitMap

from dolphin.engine.numeric_terms import Range, range_count, range_users
from dolphin.engine.planner import Complement, Intersect, Leaf, Node, Union
from dolphin.engine.results import PlanTrace
from dolphin.engine.step_order import Term, last_index
from dolphin.errors import DeadlineError


class Budget:
    """An absolute deadline (time.monotonic), checked between plan steps."""

    def __init__(self, what: str, deadline: float | None) -> None:
        self.what = what
        self.deadline = deadline
        self.started = time.monotonic()
        self.steps = 0

    def check(self) -> None:
        """Raise DeadlineError when the deadline has passed."""
        self.steps += 1
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise DeadlineError(self.what, time.monotonic() - self.started, f"step {self.steps}")


def _union(bitmaps: list[AbstractBitMap]) -> AbstractBitMap:
    return bitmaps[0] if len(bitmaps) == 1 else BitMap.union(*bitmaps)


def ordered(node: Intersect, count_only: bool) -> list[Node]:
    """Return the positives with the one cheapest to take last moved to the end (step_order.py)."""
    ps = node.positives
    if len(ps) < 2 or node.universe <= 0 or any(isinstance(p, Range) for p in ps):
        return ps
    removed = min(node.universe, sum(n.estimate for n in node.negatives))
    j = last_index([_term(p) for p in ps], removed, node.universe, count_only)
    return ps if j == len(ps) - 1 else [*ps[:j], *ps[j + 1:], ps[j]]


def _term(node: Node) -> Term:
    if isinstance(node, Union) and all(isinstance(c, Leaf) for c in node.children):
        return Term(node.estimate, tuple(c.estimate for c in node.children), node.disjoint)
    return Term(node.estimate)


@dataclass(slots=True)
class Acc:
    """A step's result, and whether it is a private BitMap that the next steps may change in place.

    Each step that builds a new bitmap allocates and writes all its containers (153 at 10M users), then frees
    the last one's. When two or more steps follow each other, the first copies into a private BitMap and the
    rest change it in place. `gender=F AND city IN (Hangzhou, Shanghai) AND interest=tennis AND NOT vip=true`
    on bench/stream.py's state at 10M users (bench/paced_counts.py, four alternating pairs): 1.36-1.54 ->
    1.08-1.15 ms back to back, 1.92-2.10 -> 1.51-1.59 ms at one call per 5 ms.
    """

    bitmap: AbstractBitMap
    private: bool = False

    def intersect(self, other: AbstractBitMap, more: bool) -> Acc:
        """Return self & other; `more`: another step will follow."""
        return self._step(other, more, operator.and_, operator.iand)

    def minus(self, other: AbstractBitMap, more: bool) -> Acc:
        """Return self - other; `more`: another step will follow."""
        return self._step(other, more, operator.sub, operator.isub)

    def _step(
        self, other: AbstractBitMap, more: bool,
        build: Callable[[AbstractBitMap, AbstractBitMap], AbstractBitMap],
        change: Callable[[BitMap, AbstractBitMap], BitMap],
    ) -> Acc:
        if not (self.private or more):
            return Acc(build(self.bitmap, other))
        # no run optimisation on the copy: frozen.py
        mine = cast(BitMap, self.bitmap) if self.private else BitMap(self.bitmap, optimize=False)
        return Acc(change(mine, other), True)


def _intersect_positives(ps: list[Node], budget: Budget, upto: int, then: int = 0) -> Acc:
    """Return the intersection of ps[:upto]; `then`: how many steps that build a bitmap the caller takes after."""
    acc = Acc(materialize(ps[0], budget))
    for i, child in enumerate(ps[1:upto], start=2):
        if not acc.bitmap:
            break
        budget.check()
        if isinstance(child, Range):
            acc = Acc(range_users(child, acc.bitmap & child.field.exists))
        else:
            acc = acc.intersect(materialize(child, budget), more=i < upto or then > 0)
    return acc


def _last_count(acc: AbstractBitMap, last: Node, budget: Budget) -> int:
    """Return |acc & last| without building it; a numeric range is evaluated over acc only."""
    if isinstance(last, Range):
        return range_count(last, acc & last.field.exists)
    if isinstance(last, Union) and last.disjoint:
        return sum(_last_count(acc, c, budget) for c in last.children)
    return acc.intersection_cardinality(materialize(last, budget))


def materialize(node: Node, budget: Budget) -> AbstractBitMap:
    """Return the users of a plan node (a stored bitmap itself for a leaf: do not mutate the result)."""
    match node:
        case Leaf(bitmap=bm):
            return bm
        case Range(field=field):
            return range_users(node, field.exists)
        case Union(children=cs):
            return _union([materialize(c, budget) for c in cs])
        case Intersect(negatives=ns):
            ps = ordered(node, count_only=False)
            if not ns:
                return _intersect_positives(ps, budget, len(ps)).bitmap
            # As in count(): subtract while the result is dense, take the sparsest step last.
            acc = _intersect_positives(ps, budget, max(1, len(ps) - 1), then=2 if len(ps) > 1 else 1)
            if acc.bitmap:
                budget.check()
                acc = acc.minus(_union([materialize(c, budget) for c in ns]), more=len(ps) > 1)
            if acc.bitmap and len(ps) > 1:
                budget.check()
                last = ps[-1]
                acc = Acc(range_users(last, acc.bitmap & last.field.exists)) if isinstance(last, Range) else (
                    acc.intersect(materialize(last, budget), more=False))
            return acc.bitmap
        case Complement(child=c, population=pop):
            return pop.bitmap - materialize(c, budget)
    raise TypeError(f"not a plan node: {node!r}")


def count(node: Node, budget: Budget) -> int:
    """Return the number of users of a plan node without building the final bitmap."""
    match node:
        case Leaf(bitmap=bm):
            return len(bm)
        case Range(field=field):
            return range_count(node, field.exists)
        case Union(children=cs, disjoint=True):
            return sum(count(c, budget) for c in cs)
        case Union(children=[a, b]):
            return materialize(a, budget).union_cardinality(materialize(b, budget))
        case Union():
            return len(materialize(node, budget))
        case Intersect(positives=[single], negatives=[]):
            return count(single, budget)
        case Intersect(negatives=[]):
            ps = ordered(node, count_only=True)
            kept = _intersect_positives(ps, budget, len(ps) - 1).bitmap
            budget.check()
            return _last_count(kept, ps[-1], budget) if kept else 0
        case Intersect(negatives=ns):
            # Subtract before the last intersection: results of dense steps stay cheap bitsets, and the
            # final, sparsest step is cardinality-only (building a sparse result costs ~10x a dense one).
            ps = ordered(node, count_only=True)
            steps = _intersect_positives(ps, budget, max(1, len(ps) - 1), then=1 if len(ps) > 1 else 0)
            if not steps.bitmap:
                return 0
            budget.check()
            removed = _union([materialize(c, budget) for c in ns])
            if len(ps) == 1:
                return steps.bitmap.difference_cardinality(removed)
            rest = steps.minus(removed, more=False).bitmap
            return _last_count(rest, ps[-1], budget) if rest else 0
        case Complement(child=c, population=pop):
            return pop.bitmap.difference_cardinality(materialize(c, budget))
    raise TypeError(f"not a plan node: {node!r}")


def prefixed(node: Node, budget: Budget) -> Node:
    """Return an equivalent plan whose every step but the last is evaluated once (for windowed exports).

    count() of an intersection evaluates all its steps but the last over every user, then counts with the
    last; an export then evaluates each window again. With those steps kept as one bitmap, the count costs
    the same and a window is two cheap intersections (10k-ID first page of q2 at 10M users: ~0.1 ms less).
    """
    match node:
        case Intersect(positives=[_, _, *_], negatives=ns):
            ps = ordered(node, count_only=True)
            acc = _intersect_positives(ps, budget, len(ps) - 1, then=1 if ns else 0)
            if acc.bitmap and ns:
                budget.check()
                acc = acc.minus(_union([materialize(c, budget) for c in ns]), more=False)
            return Intersect([Leaf("evaluated", "", acc.bitmap), ps[-1]])
    return node


def restrict(node: Node, window: AbstractBitMap) -> Node:
    """Return the plan with every stored bitmap cut to a window of dense IDs (for evaluating a range)."""
    match node:
        case Leaf(op=op, detail=detail, bitmap=bm):
            return Leaf(op, detail, bm & window)
        case Range(detail=detail, field=field):
            return Leaf("compare", detail, range_users(node, field.exists & window))
        case Union(op=op, children=cs, population=pop, disjoint=disjoint):
            return Union(op, [restrict(c, window) for c in cs], pop, disjoint)
        case Intersect(positives=ps, negatives=ns):
            # No universe: a window spans a few containers, where the planner's order is as good as any.
            return Intersect([restrict(c, window) for c in ps], [restrict(c, window) for c in ns])
        case Complement(child=c, population=pop):
            population = restrict(pop, window)
            assert isinstance(population, Leaf)
            return Complement(restrict(c, window), population)
    raise TypeError(f"not a plan node: {node!r}")


def _describe(node: Node) -> tuple[str, str, list[Node]]:
    match node:
        case Leaf(op=op, detail=detail):
            return op, detail, []
        case Range(detail=detail):
            return "compare", detail, []
        case Union(op=op, children=cs):
            return op, "", list(cs)
        case Intersect(positives=ps, negatives=ns):
            return ("andnot" if ns else "and"), "", [*ps, *ns]
        case Complement(child=c):
            return "not", "", [c]
    raise TypeError(f"not a plan node: {node!r}")


def trace(node: Node, budget: Budget) -> tuple[AbstractBitMap, PlanTrace]:
    """Materialize a plan node, recording each node's cardinality and time (for Explain)."""
    started = time.perf_counter()
    op, detail, children = _describe(node)
    child_traces = [trace(c, budget)[1] for c in children]
    result = materialize(node, budget)
    elapsed = (time.perf_counter() - started) * 1e6
    if isinstance(node, Intersect) and node.negatives:
        detail = f"{len(node.positives)} kept, {len(node.negatives)} removed"
    return result, PlanTrace(op, detail, len(result), round(elapsed, 1), child_traces)
