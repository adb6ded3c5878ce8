"""The reference model of stream mutations: plain Python sets, one mutation at a time."""

from __future__ import annotations

from dataclasses import dataclass, field

from dolphin.stream.batches import Mutation, MutationOp


@dataclass
class Model:
    """Population and dimension -> value -> users, as sets."""

    population: set[str] = field(default_factory=set)
    tags: dict[str, dict[str, set[str]]] = field(default_factory=dict)

    def apply(self, m: Mutation) -> None:
        """Apply one mutation with the documented semantics."""
        if m.op is MutationOp.DELETE_USER:
            self.population.discard(m.user_id)
            for values in self.tags.values():
                for users in values.values():
                    users.discard(m.user_id)
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

    def cleaned(self) -> Model:
        """Return the model without empty tags (bitmaps of no users are not stored)."""
        return Model(set(self.population),
                     {d: {v: set(u) for v, u in vs.items() if u} for d, vs in self.tags.items()})
