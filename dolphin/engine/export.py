"""Exports: an evaluated audience paged in dense-ID order, window by window."""

from __future__ import annotations

import numpy as np
from pyroaring import BitMap

from dolphin.engine import paging
from dolphin.engine.evaluate import Budget, materialize, restrict
from dolphin.engine.planner import Node
from dolphin.engine.results import ExportPage
from dolphin.engine.snapshot import Snapshot


class ExportCursor:
    """Pages through an audience in dense-ID order, evaluating it window by window.

    The first page of a large audience then costs a fraction of evaluating the whole audience; windows
    double in size, so a full export does about the work of one evaluation. The first window is sized from the
    audience's density (its count is known) to hold about one page, so a small page of a sparse audience
    evaluates few dense IDs.
    """

    MIN_WINDOW = 1 << 16
    MAX_FIRST_WINDOW = 1 << 20

    def __init__(self, snap: Snapshot, subject: str, plan: Node, page_size: int, start: int, total: int,
                 integers: bool = False) -> None:
        self.snap = snap
        self.integers = integers  # pages carry int64 IDs (an int64 dictionary) instead of text
        self.subject = subject
        self.plan = plan
        self.page_size = page_size
        self.position = start  # next dense ID not yet evaluated
        self.end = len(snap.ids)
        self.window = self.first_window(page_size, total, self.end - start)
        self.buffer: np.ndarray = np.empty(0, dtype=np.uint32)
        self.total = total

    @classmethod
    def first_window(cls, page_size: int, total: int, remaining: int) -> int:
        """Return a first window that holds about a page and a quarter of an audience spread evenly."""
        if total <= 0 or remaining <= 0:
            return cls.MAX_FIRST_WINDOW
        expected = -(-(page_size + 1) * remaining * 5 // (4 * total))
        return max(cls.MIN_WINDOW, min(cls.MAX_FIRST_WINDOW, expected))

    def _fill(self, need: int) -> None:
        """Evaluate windows until the buffer holds more than `need` IDs or the audience is exhausted."""
        chunks = [self.buffer]
        have = len(self.buffer)
        while have <= need and self.position < self.end:
            hi = min(self.end, self.position + self.window)
            window = BitMap()
            window.add_range(self.position, hi)
            part = materialize(restrict(self.plan, window), Budget("export", None))
            chunks.append(np.frombuffer(part.to_array(), dtype=np.uint32))
            have += len(part)
            self.position = hi
            self.window *= 2
        self.buffer = np.concatenate(chunks) if len(chunks) > 1 else chunks[0]

    def next_page(self) -> ExportPage:
        """Return the next page of external IDs, ascending by dense ID."""
        self._fill(self.page_size)
        dense, self.buffer = self.buffer[: self.page_size], self.buffer[self.page_size :]
        token = ""
        if len(self.buffer):
            manifest = self.snap.data.manifest
            token = paging.make_token(self.snap.version, manifest.built_at, self.subject, int(dense[-1]) + 1)
        if self.integers:
            return ExportPage([], token, self.snap.version, self.total, self.snap.ids.decode_integers(dense))
        return ExportPage(self.snap.ids.decode(dense), token, self.snap.version, self.total)
