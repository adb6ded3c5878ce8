"""User embeddings in a snapshot version: sorted dense IDs, a float32 matrix and a FAISS index.

    vector_ids.npy   uint32, ascending: the dense IDs of users with a vector
    vectors.npy      float32 (count x dim), row i belongs to vector_ids[i]; memory-mapped on open
    vectors.faiss    FAISS index (IndexIDMap2(IndexFlatIP) or IndexIVFFlat, inner product) whose ids are dense IDs

FAISS is imported lazily, so Dolphin without embeddings never loads it.
"""

from __future__ import annotations

import math
import pathlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dolphin.storage.faiss_runtime import faiss_module
from dolphin.storage.key_search import SortedKeys
from dolphin.storage.vector_recall import calibrate

IDS_FILE = "vector_ids.npy"
VECTORS_FILE = "vectors.npy"
INDEX_FILE = "vectors.faiss"
FILES = [IDS_FILE, VECTORS_FILE, INDEX_FILE]
FLAT_MAX = 100_000  # below this, exact search is fast enough and needs no training


def choose_index(count: int, kind: str, nlist: int) -> tuple[str, int]:
    """Return (index kind, nlist): exact below FLAT_MAX vectors unless configured, else IVF with ~4*sqrt(n) lists."""
    if kind == "auto":
        kind = "flat" if count < FLAT_MAX else "ivf"
    if kind == "ivf" and nlist <= 0:
        nlist = max(1, int(round(4 * math.sqrt(count))))
    return kind, nlist if kind == "ivf" else 0


def build_index(dense_ids: np.ndarray, vectors: np.ndarray, kind: str, nlist: int, seed: int = 0) -> Any:
    """Return a FAISS inner-product index over vectors whose ids are the dense IDs."""
    faiss = faiss_module()
    dim = vectors.shape[1]
    ids = dense_ids.astype(np.int64)
    index: Any
    if kind == "flat":
        index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
    else:
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(seed)
        sample_size = min(len(vectors), max(39 * nlist, 50_000))
        sample = vectors[np.sort(rng.choice(len(vectors), sample_size, replace=False))]
        index.train(np.ascontiguousarray(sample))
    index.add_with_ids(np.ascontiguousarray(vectors), ids)
    return index


def write_vector_files(
    directory: pathlib.Path, dense_ids: np.ndarray, vectors: np.ndarray, *, metric: str, kind: str, nlist: int
) -> dict[str, Any]:
    """Write the three files into directory; return the manifest extras describing them."""
    faiss = faiss_module()
    kind, nlist = choose_index(len(dense_ids), kind, nlist)
    np.save(directory / IDS_FILE, dense_ids.astype(np.uint32))
    np.save(directory / VECTORS_FILE, vectors.astype(np.float32))
    index = build_index(dense_ids, vectors, kind, nlist)
    faiss.write_index(index, str(directory / INDEX_FILE))
    meta = {"files": FILES, "count": int(len(dense_ids)), "dim": int(vectors.shape[1]), "metric": metric,
            "index": kind, "nlist": nlist}
    if kind == "ivf":
        meta["nprobe_recall"] = calibrate(index, vectors, dense_ids, normalise=metric == "cosine")
    return meta


@dataclass
class VectorSet:
    """The embeddings of one snapshot version."""

    ids: np.ndarray
    vectors: np.ndarray
    index: Any
    meta: dict[str, Any]
    _keys: SortedKeys | None = field(default=None, repr=False)  # built on first use

    def rows_of(self, dense: np.ndarray) -> np.ndarray:
        """Return the rows of the users in `dense` (ascending uint32) that have a vector."""
        if self._keys is None:  # 5,000 seed users in 10M IDs: 2.6 ms by np.searchsorted, well under 1 ms here
            self._keys = SortedKeys(np.asarray(self.ids, dtype=np.uint32))
        rows = self._keys.positions(np.asarray(dense, dtype=np.uint32))
        return rows[rows >= 0]


def open_vector_set(path: pathlib.Path, meta: dict[str, Any]) -> VectorSet:
    """Open the vector files of a version: arrays memory-mapped, the index read with FAISS."""
    faiss = faiss_module()
    ids = np.load(path / IDS_FILE, mmap_mode="r")
    vectors = np.load(path / VECTORS_FILE, mmap_mode="r")
    index = faiss.read_index(str(path / INDEX_FILE))
    return VectorSet(np.asarray(ids), vectors, index, meta)
