"""Which value each user holds in the single-valued dimensions the stream SETs, kept by the writer between groups.

A SET moves users out of their old values. Without knowing which those are, a group subtracted all its moved
users from every value of the dimension: with 5,000 SETs among 400 cities, 400 rewrites that each meet all 153
containers of the moved users. With one code per user the writer knows each moved user's old value, so it
rewrites only the values users leave or join, each by its own few users (bench/README.md, issue 14 eleventh pass).

The codes are the writer's own and change in place; readers never see them. Each dimension's codes name the table
of values (the dict of the dimension's bitmaps, by identity) they describe, and are used only with that table: a
snapshot whose table is another object (after a reload, a replay, or a group that failed) has them built again
from its bitmaps. A group changes them only in `commit`, once its new snapshot is complete.

Memory: one to four bytes per user per dimension (by the number of values), within `bytes_per_user` of the
snapshot's users in all; past it a dimension is rewritten the old way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from pyroaring import AbstractBitMap

from dolphin.engine.snapshot import code_dtype

BYTES_PER_USER = 4.0  # the budget: 40 MB at 10M users, two dimensions of up to 65,534 values each
GROWTH = 1.125  # codes grow past new users by this factor, so that joining users do not copy them every group

Table = Mapping[str, AbstractBitMap]


@dataclass(slots=True)
class DimensionCodes:
    """One dimension's codes: codes[user] is index[value] (values[code - 1]), 0 for no value."""

    table: Table
    codes: np.ndarray
    values: list[str]
    index: dict[str, int]

    def old(self, users: np.ndarray) -> np.ndarray:
        """Return the codes of dense IDs (0 past the end: users new to the codes)."""
        out = np.zeros(len(users), dtype=np.uint32)
        known = users < len(self.codes)
        out[known] = self.codes[users[known]]
        return out

    def code_of(self, value: str) -> int:
        """Return the code of a value, giving a new value the next one (unused until `commit` writes it)."""
        code = self.index.get(value)
        if code is None:
            self.values.append(value)
            code = self.index[value] = len(self.values)
        return code


def built(table: Table, users: int, pause: Callable[[], None]) -> DimensionCodes | None:
    """Return the codes of a dimension's table over `users` dense IDs; None when some user holds two values."""
    values = list(table)
    codes = np.zeros(users, dtype=code_dtype(len(values)))
    held = 0
    for code, value in enumerate(values, start=1):
        pause()
        ids = np.frombuffer(table[value].to_array(), dtype=np.uint32)
        codes[ids] = code
        held += len(ids)
    if np.count_nonzero(codes) != held:  # a batch load gave a user two values: the old way removes from both
        return None
    return DimensionCodes(table, codes, values, {v: i for i, v in enumerate(values, start=1)})


class LiveCodes:
    """The writer's codes of the dimensions it SETs, by dimension, within a byte budget per user."""

    def __init__(self, bytes_per_user: float = BYTES_PER_USER) -> None:
        self.bytes_per_user = bytes_per_user
        self._books: dict[str, DimensionCodes] = {}
        self._refused: dict[str, Table] = {}  # tables with a user in two values (by identity): not tried again

    @property
    def nbytes(self) -> int:
        """Return the bytes the codes hold."""
        return sum(int(b.codes.nbytes) for b in self._books.values())

    def of(self, dimension: str, table: Table | None, users: int, pause: Callable[[], None]) -> DimensionCodes | None:
        """Return the codes that describe `table`, building them if needed; None when the dimension is new, does
        not fit the budget, or has a user with two values."""
        if table is None or self.refuses(dimension, table):
            return None
        book = self._books.get(dimension)
        if book is not None and book.table is table:
            return book
        self._books.pop(dimension, None)
        size = max(users, 1) * np.dtype(code_dtype(len(table))).itemsize
        if self.nbytes + size > self.bytes_per_user * max(users, 1):
            return None
        book = built(table, users, pause)
        if book is None:
            self._refused[dimension] = table
            return None
        self._books[dimension] = book
        return book

    def refuses(self, dimension: str, table: Table) -> bool:
        """True when codes for this table were refused (a user holds two values) and will not be tried again."""
        return self._refused.get(dimension) is table

    def forget(self, dimension: str) -> None:
        """Drop a dimension's codes (they disagreed with its bitmaps); they are built again when next needed."""
        self._books.pop(dimension, None)

    def commit(self, before: Mapping[str, Table], after: Mapping[str, Table], deleted: np.ndarray,
               moves: Mapping[str, tuple[np.ndarray, np.ndarray]], users: int) -> None:
        """Record a group: before and after are the tag tables it started from and made, deleted the dense IDs
        it deleted, moves per dimension the users whose value changed and their new codes; users is how many
        dense IDs the new snapshot has. Codes that did not describe `before` are dropped."""
        # a refused table stays refused in the tables the stream derives from it: the old way ends the second
        # value only of the users a SET names, so the others keep theirs; another table (a reload) is tried again
        self._refused = {d: after[d] for d, t in self._refused.items() if before.get(d) is t and d in after}
        for dimension, book in list(self._books.items()):
            table = after.get(dimension)
            if book.table is not before.get(dimension) or table is None:
                del self._books[dimension]
                continue
            book.codes[deleted[deleted < len(book.codes)]] = 0
            moved, codes = moves.get(dimension, (deleted[:0], deleted[:0]))
            self._fit(book, users, len(book.values))
            book.codes[moved] = codes
            book.table = table
        if self.nbytes > self.bytes_per_user * max(users, 1):
            self._books.clear()

    @staticmethod
    def _fit(book: DimensionCodes, users: int, values: int) -> None:
        """Grow the codes to hold `users` dense IDs and codes up to `values`."""
        dtype = np.result_type(book.codes.dtype, code_dtype(values))
        if len(book.codes) >= users and dtype == book.codes.dtype:
            return
        grown = np.zeros(max(users, int(len(book.codes) * GROWTH)) if len(book.codes) < users else len(book.codes),
                         dtype=dtype)
        grown[: len(book.codes)] = book.codes
        book.codes = grown
