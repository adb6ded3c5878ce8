"""The names every shard of a cluster knows together, and expressions checked and completed against them.

A shard holds some of the users, so a dimension, campaign or event may exist on one shard only (a value streamed
to one user, a campaign with events on a few). Shards therefore serve with unknown names empty
(`--cluster-shard`), and the front raises the errors a single node would: unknown dimensions (with the same
suggestion), campaigns and events, at the same positions, in the planner's order. It also fills in the open
dates of `event()` terms from the cluster-wide span, because each shard's own span differs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from pyroaring import FrozenBitMap

from dolphin.engine.events import EventIndex
from dolphin.engine.snapshot import closest_name
from dolphin.errors import InvalidArgumentError, NotFoundError, UnknownDimensionError
from dolphin.query import All, And, Between, Compare, Event, Expr, In, Not, NotIn, Or, Saved, Tag

EMPTY = FrozenBitMap()


@dataclass(frozen=True, slots=True)
class ClusterNames:
    """Dimension kinds and the campaign index, unioned over shards."""

    kinds: dict[str, str]  # dimension -> "single" | "multi", or a numeric field's kind ("integer", "decimal(2)", ...)
    campaigns: dict[str, dict[str, list[str]]]  # campaign -> event -> sorted days with data on some shard

    @property
    def events(self) -> EventIndex:
        """The campaign index as the engine's EventIndex (no bitmaps), for its checks and spans."""
        return EventIndex({(c, e): dict.fromkeys(days, EMPTY)
                           for c, events in self.campaigns.items() for e, days in events.items()})

    def has_dimension(self, name: str) -> bool:
        """True when some shard has the dimension."""
        return name in self.kinds

    def check_dimension(self, name: str, expr: Tag | In | NotIn | Compare | Between | None = None) -> None:
        """Raise UnknownDimensionError as a single node does when no shard has the dimension."""
        if name not in self.kinds:
            raise UnknownDimensionError(name, closest_name(name, list(self.kinds)),
                                        expr.position if expr is not None else None)


    def check_listed(self, name: str) -> None:
        """Raise NotFoundError as a single node's ListDimensions does when no shard has the dimension."""
        if name not in self.kinds:
            suggestion = closest_name(name, list(self.kinds))
            hint = f'; did you mean "{suggestion}"?' if suggestion else ""
            raise NotFoundError(f'dimension "{name}" not found{hint}')


def merged_names(parts: list[ClusterNames]) -> ClusterNames:
    """Return the union of shards' names (a dimension's kind is the first shard's that has it)."""
    kinds: dict[str, str] = {}
    campaigns: dict[str, dict[str, set[str]]] = {}
    for part in parts:
        for name, kind in part.kinds.items():
            if kind:
                kinds.setdefault(name, kind)
        for campaign, events in part.campaigns.items():
            for event, days in events.items():
                campaigns.setdefault(campaign, {}).setdefault(event, set()).update(days)
    return ClusterNames(dict(sorted(kinds.items())), {
        c: {e: sorted(days) for e, days in sorted(events.items())} for c, events in sorted(campaigns.items())})


def completed(expr: Expr, names: ClusterNames, events: EventIndex) -> Expr:
    """Return expr with event() dates filled in from the cluster's spans; raises what a single node's planner
    would for an unknown name or a reversed range, walking the expression in the planner's order."""
    match expr:
        case Tag(dimension=d) | In(dimension=d) | NotIn(dimension=d) | Compare(dimension=d) | Between(dimension=d):
            names.check_dimension(d, expr)
            return expr
        case Event(event=e, campaign=c, start=s, end=t):
            first, last = events.span(c, e)
            start, end = s or first, t or last
            if start > end:
                raise InvalidArgumentError(f"event({e}): the date range {start} to {end} is reversed")
            return dataclasses.replace(expr, start=start or None, end=end or None)
        case Saved() | All():
            return expr
        case Not(child=c):
            return Not(completed(c, names, events))
        case And(children=cs):
            return And(tuple(completed(c, names, events) for c in cs))
        case Or(children=cs):
            return Or(tuple(completed(c, names, events) for c in cs))
    raise TypeError(f"not an expression: {expr!r}")
