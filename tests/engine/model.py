"""The reference model of stream mutations: plain Python sets, one mutation at a time."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from dolphin.stream.batches import Mutation, MutationOp


@dataclass
class Model:
    """Population, dimension -> value -> users and (campaign, event, day) -> users, as sets."""

    population: set[str] = field(default_factory=set)
    tags: dict[str, dict[str, set[str]]] = field(default_factory=dict)
    events: dict[tuple[str, str, str], set[str]] = field(default_factory=dict)
    keep_days: int = field(default=0, compare=False)  # the stream's event window (0: none)
    oldest: str = field(default="", compare=False)  # the current batch's window start

    def apply(self, m: Mutation) -> None:
        """Apply one mutation with the documented semantics."""
        if m.op is MutationOp.DELETE_USER:
            self.population.discard(m.user_id)
            for values in self.tags.values():
                for users in values.values():
                    users.discard(m.user_id)
            for users in self.events.values():
                users.discard(m.user_id)
            return
        if m.op is MutationOp.ADD_EVENT:
            self._add_event(m)
            return
        if m.op is not MutationOp.REMOVE:
            self.population.add(m.user_id)
        values = self.tags.setdefault(m.dimension, {})
        if m.op is MutationOp.SET:
            for users in values.values():
                users.discard(m.user_id)
        if m.op is MutationOp.REMOVE:
            values.get(m.value, set()).discard(m.user_id)
        else:
            values.setdefault(m.value, set()).add(m.user_id)

    def apply_batch(self, batch: list[Mutation]) -> None:
        """Apply a batch; with a window, it counts back from the newest event day, the batch's included: events
        before it are dropped, and days before it are removed."""
        self.oldest = ""
        if self.keep_days:
            days = [day for (_, _, day), users in self.events.items() if users]
            days += [m.date for m in batch if m.op is MutationOp.ADD_EVENT]
            if days:
                newest = datetime.date.fromisoformat(max(days))
                self.oldest = (newest - datetime.timedelta(days=self.keep_days - 1)).isoformat()
        for m in batch:
            self.apply(m)
        self.events = {k: u for k, u in self.events.items() if k[2] >= self.oldest}

    def _add_event(self, m: Mutation) -> None:
        if m.date >= self.oldest:
            self.population.add(m.user_id)
            self.events.setdefault((m.dimension, m.value, m.date), set()).add(m.user_id)

    def cleaned(self) -> Model:
        """Return the model without empty tags and days (bitmaps of no users are not stored)."""
        return Model(set(self.population),
                     {d: {v: set(u) for v, u in vs.items() if u} for d, vs in self.tags.items()},
                     {k: set(u) for k, u in self.events.items() if u}, self.keep_days)
