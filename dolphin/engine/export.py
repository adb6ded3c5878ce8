"""Exports: an evaluated audience paged in dense-ID order, window by window, or ordered by a numeric field."""

from __future__ import annotations

import numpy as np
from pyroaring import AbstractBitMap, BitMap

from dolphin.engine import paging
from dolphin.engine.bsi import Field
from dolphin.engine.evaluate import Budget, materialize, restrict
from dolphin.engine.planner import Node
from dolphin.engine.results import ExportPage
from dolphin.engine.snapshot import Snapshot
from dolphin.storage.numbers import format_values


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

    def page_ready(self) -> bool:
        """Evaluate at most one more window; return whether next_page needs no further evaluation."""
        if not self._page_buffered():
            self._fill(self.page_size, windows=1)
        return self._page_buffered()

    def _page_buffered(self) -> bool:
        return len(self.buffer) > self.page_size or self.position >= self.end

    def _fill(self, need: int, windows: int = -1) -> None:
        """Evaluate windows (at most `windows` when not -1) until the buffer holds more than `need` IDs or the
        audience is exhausted."""
        chunks = [self.buffer]
        have = len(self.buffer)
        while have <= need and self.position < self.end and windows != 0:
            windows -= 1
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
            token = paging.make_token(self.snap.version, manifest.built_at, self.subject, int(dense[-1]) + 1,
                                      self.total)
        if self.integers:
            return ExportPage([], token, self.snap.version, self.total, self.snap.ids.decode_integers(dense))
        return ExportPage(self.snap.ids.decode(dense), token, self.snap.version, self.total)


class OrderedExportCursor:
    """Pages through an audience ordered by a numeric field: ties by dense ID, users without a value last.

    The first pages come from the index's top-k (the k best users, then only they are decoded and sorted), so
    "the 10,000 top spenders" costs about one walk down the slices; a cursor that pages further sorts the
    whole audience once. A page token holds the rank to resume at.
    """

    TOP_K_LIMIT = 1 << 16  # beyond this rank, one full sort beats repeated top-k walks

    def __init__(self, snap: Snapshot, subject: str, audience: AbstractBitMap, index: Field, descending: bool,
                 page_size: int, start: int, integers: bool = False) -> None:
        self.snap = snap
        self.subject = subject
        self.index = index
        self.descending = descending
        self.valued = audience & index.exists
        self.unvalued = audience - index.exists
        self.page_size = page_size
        self.position = start
        self.total = len(audience)
        self.integers = integers
        self.ordered = np.empty(0, dtype=np.uint32)  # the best users so far, in order
        self.values = np.empty(0, dtype=np.int64)  # and their values
        self.complete = False  # ordered holds every user with a value

    def _ordered_through(self, end: int) -> None:
        """Make `ordered` hold at least the first `end` users with a value (or all of them)."""
        if self.complete or len(self.ordered) >= end:
            return
        if end >= len(self.valued) or end > self.TOP_K_LIMIT:
            self.ordered, self.values = self.index.ordered(self.valued, descending=self.descending)
            self.complete = True
            return
        k = min(len(self.valued), max(end, 2 * len(self.ordered)))
        best = self.index.top(self.valued, k, descending=self.descending)
        self.ordered, self.values = self.index.ordered(best, descending=self.descending)
        self.complete = k >= len(self.valued)

    def next_page(self) -> ExportPage:
        """Return the next page of external IDs in the field's order."""
        start, end = self.position, min(self.total, self.position + self.page_size)
        self._ordered_through(end)
        valued = len(self.valued)
        parts = [self.ordered[start:min(end, valued)]]
        texts = format_values(self.index.kind, self.values[start:min(end, valued)])
        if end > valued:  # past the users with a value: the others, in dense-ID order
            rest = np.frombuffer(self.unvalued.to_array(), dtype=np.uint32)
            parts.append(rest[max(0, start - valued):end - valued])
            texts += [""] * len(parts[-1])
        dense = np.concatenate(parts) if len(parts) > 1 else parts[0]
        self.position = end
        token = ""
        if end < self.total:
            token = paging.make_token(self.snap.version, self.snap.data.manifest.built_at, self.subject, end,
                                      self.total)
        if self.integers:
            return ExportPage([], token, self.snap.version, self.total, self.snap.ids.decode_integers(dense), texts)
        return ExportPage(self.snap.ids.decode(dense), token, self.snap.version, self.total, None, texts)
