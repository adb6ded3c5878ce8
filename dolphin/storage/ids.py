"""ID dictionary: external user IDs (int64 or string) <-> dense uint32 IDs, vectorised both ways.

Dense ID i is row i of one Polars column, so decoding is a gather. Encoding a large input is a hash join;
encoding a small one (a stream batch) against a large dictionary uses a sorted-key index instead, so a batch
costs O(k log n) rather than a join over every user. IDs are only ever appended, so a user keeps its dense
ID across loads and restarts, and one index serves every dictionary of a lineage.
"""

from __future__ import annotations

import pathlib

import numpy as np
import polars as pl

from dolphin.errors import LoadError
from dolphin.storage.key_search import SortedKeys

MAX_USERS = 2**32 - 1  # dense IDs are uint32; the value 2^32-1 stays unused
ID_TYPES = {"int64": pl.Int64, "string": pl.String}


def normalised_ids(ids: pl.Series) -> pl.Series:
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


def _keys(ids: pl.Series) -> np.ndarray:
    """Return 64-bit keys of IDs: the integer itself, or a string's hash (equal keys are verified)."""
    if ids.dtype == pl.String:
        return ids.hash(seed=0x0D01F1A7E).to_numpy()
    return ids.to_numpy().view(np.uint64)


class _KeyIndex:
    """Sorted keys of a dictionary's first `base` IDs plus a dict of the keys appended since.

    Shared by every dictionary extended from the same one; each dictionary ignores dense IDs at or beyond its
    own length, and only the newest dictionary (the tip) may append.
    """

    MERGE_AT = 1 << 16

    def __init__(self, external: pl.Series) -> None:
        keys = _keys(external)
        self.dense: np.ndarray | None  # position in the sorted keys -> dense ID; None: they are equal
        if _ascending(keys):
            # IDs loaded in ascending order (a sorted export, auto-increment IDs): the keys are already sorted, and
            # for integers they are a view of the ID column itself. At 10M users that saves the 80 MB copy of the
            # keys and the 40 MB position map a stream server held beside the dictionary.
            self.sorted, self.dense = SortedKeys(keys), None
        else:
            frame = pl.DataFrame({"key": keys, "dense": np.arange(len(external), dtype=np.uint32)}).sort("key")
            self.sorted, self.dense = SortedKeys(frame["key"].to_numpy()), frame["dense"].to_numpy()
        self.tail: dict[int, int] = {}
        self.tip = len(external)

    def find(self, keys: np.ndarray, limit: int) -> np.ndarray:
        """Return the dense ID of each key (int64, -1 when unknown) among dense IDs below limit."""
        pos = self.sorted.positions(keys)
        if self.dense is not None and len(self.sorted):
            found = np.where(pos >= 0, self.dense[np.maximum(pos, 0)].astype(np.int64), np.int64(-1))
        else:
            found = pos  # int64 already, -1 where absent
        if self.tail:
            misses = np.flatnonzero(found < 0)
            get = self.tail.get
            found[misses] = [get(k, -1) for k in keys[misses].tolist()]
        found[found >= limit] = -1
        return found

    def append(self, keys: np.ndarray, first_dense: int) -> None:
        """Add keys of new IDs first_dense, first_dense+1, ...; merge them into the sorted part now and then."""
        self.tail.update(zip(keys.tolist(), range(first_dense, first_dense + len(keys)), strict=True))
        self.tip = first_dense + len(keys)
        if len(self.tail) >= max(self.MERGE_AT, len(self.sorted) // 8):
            # the tail holds dense IDs len(sorted), len(sorted)+1, ... in insertion order: only the tip appends
            tail_keys = np.fromiter(self.tail.keys(), dtype=np.uint64, count=len(self.tail))
            tail_dense = np.fromiter(self.tail.values(), dtype=np.uint32, count=len(self.tail))
            old = self.sorted.keys
            if self.dense is None and (not len(old) or tail_keys[0] > old[-1]) and _ascending(tail_keys):
                self.sorted = SortedKeys(np.concatenate([old, tail_keys]))  # still in dense order
            else:
                order = np.argsort(tail_keys)
                tail_keys, tail_dense = tail_keys[order], tail_dense[order]
                dense = np.arange(len(old), dtype=np.uint32) if self.dense is None else self.dense
                at = np.searchsorted(old, tail_keys)
                self.sorted, self.dense = SortedKeys(np.insert(old, at, tail_keys)), np.insert(dense, at, tail_dense)
            self.tail = {}


def _ascending(keys: np.ndarray) -> bool:
    """True when keys strictly increase (one pass, at index build and merges only)."""
    return len(keys) < 2 or bool((keys[1:] > keys[:-1]).all())


class IdDictionary:
    """Immutable mapping between external and dense IDs; encode() returns a new, extended dictionary."""

    SMALL_INPUT = 4  # inputs up to len/SMALL_INPUT IDs use the key index rather than a join (as does any
    # input once the index exists: stream batches grouped under load must not drop back to a join)

    def __init__(self, external: pl.Series, key_index: _KeyIndex | None = None) -> None:
        self._external = external.rename("external_id")
        self._index: pl.DataFrame | None = None
        self._keys = key_index

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
        ids = normalised_ids(ids)
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
        if len(self) and (len(ids) * self.SMALL_INPUT <= len(self) or self._keys is not None):
            indexed = self._encode_indexed(ids)
            if indexed is not None:
                return indexed
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

    def _key_index(self) -> _KeyIndex | None:
        """Return the shared key index, building it on first use; None when this dictionary is not the tip."""
        if self._keys is None:
            self._keys = _KeyIndex(self._external)
        return self._keys if self._keys.tip == len(self) else None

    def _found(self, index: _KeyIndex, ids: pl.Series, keys: np.ndarray, limit: int) -> np.ndarray | None:
        found = index.find(keys, limit)
        hit = found >= 0
        if ids.dtype == pl.String and hit.any():
            # keys of strings are hashes: confirm each hit (a 64-bit collision sends the batch to the join path)
            same = self._external.gather(pl.Series(found[hit], dtype=pl.UInt32)) == ids.filter(pl.Series(hit))
            if not same.all():
                return None
        return found

    def _encode_indexed(self, ids: pl.Series) -> tuple[np.ndarray, IdDictionary] | None:
        index = self._key_index()
        if index is None:
            return None
        keys = _keys(ids)
        found = self._found(index, ids, keys, len(self))
        if found is None:
            return None
        missing = found < 0
        if not missing.any():
            return found.astype(np.uint32), self
        new_ids = ids.filter(pl.Series(missing)).unique(maintain_order=True)
        if len(self) + len(new_ids) > MAX_USERS:
            raise LoadError(
                f"{len(self) + len(new_ids)} distinct users exceed the {MAX_USERS} that dense uint32 IDs hold"
            )
        extended = IdDictionary(pl.concat([self._external, new_ids.rename("external_id")], rechunk=False), index)
        if extended._external.n_chunks() > 64:
            extended._external = extended._external.rechunk()
        index.append(_keys(new_ids), len(self))
        # Only the IDs that were missing are looked up again (they are all in the index's tail now).
        again = extended._found(index, ids.filter(pl.Series(missing)), keys[missing], len(extended))
        if again is None or (again < 0).any():
            return None
        found[missing] = again
        return found.astype(np.uint32), extended

    def decode(self, dense: np.ndarray) -> list[str]:
        """Return the external IDs of dense IDs, as text."""
        picked = self._external.gather(pl.Series(dense, dtype=pl.UInt32))
        return picked.cast(pl.String).to_list()

    def decode_integers(self, dense: np.ndarray) -> np.ndarray:
        """Return the external IDs of dense IDs as int64 (an int64 dictionary only)."""
        if self._external.n_chunks() == 1:
            column: np.ndarray = self._external.to_numpy()  # a view of the column: no copy, no per-ID objects
            picked: np.ndarray = column[dense]
            return picked
        gathered: np.ndarray = self._external.gather(pl.Series(dense, dtype=pl.UInt32)).to_numpy()
        return gathered

    def save(self, path: pathlib.Path) -> None:
        """Write the dictionary as Parquet (the caller fsyncs and renames)."""
        pl.DataFrame({"external_id": self._external}).write_parquet(path, compression="zstd", statistics=False)

    def save_from(self, path: pathlib.Path, start: int) -> None:
        """Write the IDs from dense ID `start` on as Parquet (a delta page of an incremental checkpoint)."""
        pl.DataFrame({"external_id": self._external.slice(start)}).write_parquet(
            path, compression="zstd", statistics=False)

    @staticmethod
    def load_pages(paths: list[pathlib.Path], id_type: str) -> IdDictionary:
        """Read a dictionary written as consecutive pages (a base file and deltas)."""
        pages = [IdDictionary.load(p, id_type)._external for p in paths]
        return IdDictionary(pl.concat(pages) if len(pages) > 1 else pages[0])

    @staticmethod
    def load(path: pathlib.Path, id_type: str) -> IdDictionary:
        """Read a dictionary written by save()."""
        frame = pl.read_parquet(path)
        series = frame["external_id"]
        if id_type in ID_TYPES:
            series = series.cast(ID_TYPES[id_type])
        return IdDictionary(series.rechunk())  # one buffer: decode_integers then gathers from a view
