"""The privacy floor (--min-reportable-count K): figures of fewer than K users are reported as suppressed.

Applied at the API boundary, on responses: a count n with 0 < n < K becomes 0 with its `suppressed` flag set
(0 itself names nobody and is shown); rates and TGIs built on a suppressed count become 0; exports of audiences
with fewer than K users are refused; saved audiences and lookalike seeds below K are allowed and flagged.
The in-process Engine is for trusted callers and returns exact figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dolphin.errors import PreconditionError


@dataclass(frozen=True, slots=True)
class Floor:
    """K; 0 turns the floor off."""

    k: int = 0

    def hides(self, n: int) -> bool:
        """True when a count of n users must not be shown."""
        return 0 < n < self.k

    def shown(self, n: int) -> tuple[int, bool]:
        """Return (the count to show, suppressed)."""
        return (0, True) if self.hides(n) else (n, False)

    def check_export(self, total: int) -> None:
        """Refuse to export an audience below the floor (without saying its size)."""
        if self.hides(total):
            raise PreconditionError(f"the audience has fewer than {self.k} users (--min-reportable-count); "
                                    "exports of smaller audiences are refused")

    def counts(self, message: Any, field: str = "counts", flags: str = "suppressed") -> None:
        """Suppress a repeated count field of a message in place, filling its repeated flag field."""
        values = list(getattr(message, field))
        shown = [self.shown(v) for v in values]
        message.ClearField(field)
        getattr(message, field).extend(v for v, _ in shown)
        getattr(message, flags).extend(s for _, s in shown)
