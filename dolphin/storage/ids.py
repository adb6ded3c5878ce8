"""ID dictionary: external user IDs (int64 or string) <-> dense uint32 IDs, vectorised both ways.

Dense ID i is row i of one Polars column, so decoding is a gather. Encoding is a hash join.
IDs are only ever appended, so a user keeps its dense ID across loads and restarts.
"""

from __future__ import annotations

import pathlib

import numpy as np
import polars as pl

from dolphin.errors import LoadError

MAX_USERS = 2**32 - 1  # dense IDs are uint32; the value 2^32-1 stays unused
ID_TYPES = {"int64": pl.Int64, "string": pl.String}


def _normalise_ids(ids: pl.Series) -> pl.Series:
    """Cast an input ID column to Int64 or String, or raise LoadError saying why not."""
    if ids.null_count():
        raise LoadError(f'ID column "{ids.name}" has {ids.null_count()} null values; every row needs a user ID')
    dtype = ids.dtype
    if dtype.is_integer():
        if dtype == pl.UInt64 and len(ids) and ids.max() > np.iinfo(np.int64).max:  # type: ignore[operator]
            raise LoadError(f'ID column "{ids.name}" has values above the int64 range')
        return ids.cast(pl.Int64)
    if dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum):
        return ids.cast(pl.String)
    raise LoadError(f'ID column "{ids.name}" has type {dtype}; user IDs must be integers or strings')


class IdDictionary:
    """Immutable mapping between external and dense IDs; encode() returns a new, extended dictionary."""

    def __init__(self, external: pl.Series) -> None:
        self._external = external.rename("external_id")
        self._index: pl.DataFrame | None = None

    @staticmethod
    def empty() -> IdDictionary:
        """Return a dictionary with no users."""
        return IdDictionary(pl.Series("external_id", [], dtype=pl.Int64))

    def __len__(self) -> int:
        return len(self._external)

    @property
    def id_type(self) -> str:
        """Return "int64" or "string"."""
        return "string" if self._external.dtype == pl.String else "int64"

    @property
    def external(self) -> pl.Series:
        """Return the external IDs, indexed by dense ID."""
        return self._external

    def _lookup_frame(self) -> pl.DataFrame:
        if self._index is None:
            self._index = pl.DataFrame(
                {"external_id": self._external, "dense": np.arange(len(self), dtype=np.uint32)}
            )
        return self._index

    def _conform(self, ids: pl.Series) -> pl.Series:
        ids = _normalise_ids(ids)
        if len(self) and ids.dtype != self._external.dtype:
            raise LoadError(
                f'ID column "{ids.name}" holds {"strings" if ids.dtype == pl.String else "integers"} '
                f"but this data dir's user IDs are {self.id_type}; cast the column to match"
            )
        return ids

    def lookup(self, ids: pl.Series) -> pl.Series:
        """Return dense IDs (UInt32, null where unknown) for external IDs, in input order."""
        ids = self._conform(ids)
        if not len(self):
            return pl.Series("dense", [None] * len(ids), dtype=pl.UInt32)
        frame = pl.DataFrame({"external_id": ids})
        joined = frame.join(self._lookup_frame(), on="external_id", how="left", maintain_order="left")
        return joined["dense"]

    def encode(self, ids: pl.Series) -> tuple[np.ndarray, IdDictionary]:
        """Return (dense uint32 IDs in input order, dictionary extended with the new users).

        New users get the next dense IDs in order of first appearance, so a load is deterministic.
        """
        ids = self._conform(ids)
        dense = self.lookup(ids)
        missing = dense.is_null()
        if not missing.any():
            return dense.to_numpy().astype(np.uint32, copy=False), self
        new_ids = ids.filter(missing).unique(maintain_order=True)
        if len(self) + len(new_ids) > MAX_USERS:
            raise LoadError(
                f"{len(self) + len(new_ids)} distinct users exceed the {MAX_USERS} that dense uint32 IDs hold"
            )
        extended = IdDictionary(pl.concat([self._external.cast(ids.dtype), new_ids.rename("external_id")]))
        dense = extended.lookup(ids)
        return dense.to_numpy().astype(np.uint32, copy=False), extended

    def decode(self, dense: np.ndarray) -> list[str]:
        """Return the external IDs of dense IDs, as text."""
        picked = self._external.gather(pl.Series(dense, dtype=pl.UInt32))
        return picked.cast(pl.String).to_list()

    def save(self, path: pathlib.Path) -> None:
        """Write the dictionary as Parquet (the caller fsyncs and renames)."""
        pl.DataFrame({"external_id": self._external}).write_parquet(path, compression="zstd", statistics=False)

    @staticmethod
    def load(path: pathlib.Path, id_type: str) -> IdDictionary:
        """Read a dictionary written by save()."""
        frame = pl.read_parquet(path)
        series = frame["external_id"]
        if id_type in ID_TYPES:
            series = series.cast(ID_TYPES[id_type])
        return IdDictionary(series)
