"""Lookalike facade: evaluate seed and candidate expressions, pick the search path, run a method, save."""

from __future__ import annotations

import enum
import math
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from pyroaring import AbstractBitMap

from dolphin.engine import Engine
from dolphin.engine.results import AudienceInfo
from dolphin.engine.snapshot import Snapshot
from dolphin.errors import InvalidArgumentError, PreconditionError
from dolphin.lookalike import methods
from dolphin.lookalike.pools import CandidatePool, PoolCache, packed_members, without_members
from dolphin.storage.faiss_runtime import faiss_module
from dolphin.storage.vector_recall import nprobe_for
from dolphin.storage.vectors import VectorSet, open_vector_set
from dolphin.storage.writer import bitmap_from_array

EXACT_POOL_MAX = 50_000  # at or below this many candidates, scoring them all with NumPy beats the index
POOL_CACHE_BYTES = 64 << 20  # candidate pools kept (about 1.6 MB each at 10M users with vectors)


class Method(enum.StrEnum):
    """How a seed becomes queries."""

    CENTROID = "centroid"
    MULTI_CENTROID = "multi_centroid"
    KNN_VOTE = "knn_vote"


@dataclass(frozen=True, slots=True)
class LookalikeResult:
    """Recalled users, best first, with the figures a caller needs to judge them."""

    user_ids: list[str]
    scores: list[float]
    seed_count: int
    seed_with_vectors: int
    candidates_count: int
    elapsed_ms: float
    method: Method
    search_path: str
    nprobe: int
    index_type: str
    snapshot_version: int


@dataclass(frozen=True, slots=True)
class VectorPool:
    """A lookalike's seed and the users it may return."""

    seed_expression: str
    candidate_expression: str = ""
    exclude_seed: bool = True


@dataclass(frozen=True, slots=True)
class SeedVectors:
    """One server's part of a seed: sizes, the float64 sum of its vectors and a uniform sample of them."""

    seed_count: int
    seed_with_vectors: int
    candidates_count: int
    vector_sum: np.ndarray
    sample: np.ndarray
    normalised: bool
    index_type: str
    snapshot_version: int


@dataclass(frozen=True, slots=True)
class VectorHits:
    """Top k pool users per query: scores and dense IDs (queries x k, -1 where the pool ran out)."""

    scores: np.ndarray
    dense_ids: np.ndarray
    user_ids: list[str]  # external IDs of the dense IDs that are not -1, row-major
    search_path: str
    nprobe: int
    snapshot_version: int


class LookalikeApi(Protocol):
    """What the Lookalike RPC calls: one node's Lookalike, or a cluster front's."""

    def warm(self) -> None:
        """Open what the first call would open."""

    def cache_bytes(self) -> dict[str, int]:
        """Return the memory of this server's lookalike caches, by cache."""

    def run(self, seed_expression: str, *, candidate_expression: str = "", k: int = 1000, exclude_seed: bool = True,
            method: Method = Method.CENTROID, nprobe: int = 0, save_as: str = "") -> LookalikeResult:
        """Return the k users most similar to the seed among the candidates."""


def check_request(k: int, nprobe: int, max_k: int) -> None:
    """Raise InvalidArgumentError for a k or nprobe out of range."""
    if not 1 <= k <= max_k:
        raise InvalidArgumentError(f"k must be between 1 and {max_k} (--max-lookalike-k), got {k}")
    if nprobe < 0:
        raise InvalidArgumentError(f"nprobe_or_ef must not be negative, got {nprobe}")


def no_seed_vectors(seed_count: int) -> PreconditionError:
    """Return the error of a seed none of whose users has a vector."""
    return PreconditionError(f"the seed audience has {seed_count} users and none of them has a vector; "
                             "lookalike needs seed users with embeddings")


def recall(method: Method, seed: np.ndarray, k: int, search: methods.Search,
           normalised: bool) -> tuple[np.ndarray, np.ndarray]:
    """Return the top k (ids, scores) of a method over a search function."""
    if method is Method.CENTROID:
        return methods.centroid(seed, k, search, normalised)
    if method is Method.MULTI_CENTROID:
        return methods.multi_centroid(seed, k, search, normalised)
    return methods.knn_vote(seed, k, search)


def sampled_rows(rows: np.ndarray, limit: int) -> np.ndarray:
    """Return a deterministic uniform sample of at most limit rows, in their order."""
    if len(rows) <= limit:
        return rows
    return rows[np.sort(np.random.default_rng(0).choice(len(rows), limit, replace=False))]


class _Vectors:
    """The embeddings of one snapshot version, with the bitmap of users that have a vector."""

    def __init__(self, snap: Snapshot) -> None:
        meta = snap.data.manifest.extras.get("vectors")
        if meta is None or snap.data.path is None:
            raise PreconditionError('no embeddings are loaded; run "dolphin load embeddings" first')
        self.version = snap.version
        self.set: VectorSet = open_vector_set(snap.data.path, meta)
        self.users = bitmap_from_array(self.set.ids)
        self.normalised = meta["metric"] == "cosine"


class Lookalike:
    """Lookalike recall over an Engine's current snapshot."""

    def __init__(self, engine: Engine, *, max_k: int = 100_000, exact_pool_max: int = EXACT_POOL_MAX,
                 pool_cache_bytes: int = POOL_CACHE_BYTES) -> None:
        self.engine = engine
        self.max_k = max_k
        self.exact_pool_max = exact_pool_max
        self.pools = PoolCache(pool_cache_bytes)
        self._lock = threading.Lock()
        self._vectors: _Vectors | None = None

    def vectors(self, snap: Snapshot) -> _Vectors:
        """Return the embeddings of a snapshot (opened once per version)."""
        with self._lock:
            if self._vectors is None or self._vectors.version != snap.version:
                self._vectors = _Vectors(snap)
            return self._vectors

    def cache_bytes(self) -> dict[str, int]:
        """Return the memory of the kept candidate pools."""
        return {"lookalike_pools": self.pools.bytes_held()}

    def warm(self) -> None:
        """Open the served snapshot's embeddings now, if it has any (no-op otherwise)."""
        if self.engine.ready and "vectors" in (snap := self.engine.snapshot()).data.manifest.extras:
            self.vectors(snap)

    def run(
        self,
        seed_expression: str,
        *,
        candidate_expression: str = "",
        k: int = 1000,
        exclude_seed: bool = True,
        method: Method = Method.CENTROID,
        nprobe: int = 0,
        save_as: str = "",
    ) -> LookalikeResult:
        """Return the k users most similar to the seed among the candidates."""
        started = time.perf_counter()
        check_request(k, nprobe, self.max_k)
        snap, vectors, seed, seed_rows = self._seed(seed_expression)
        if not len(seed_rows):
            raise no_seed_vectors(len(seed))
        candidates = self._candidates(snap, vectors, candidate_expression)
        pool = pool_of(candidates, seed, exclude_seed)
        search, path, used_nprobe = self._searcher(vectors, candidates, pool, seed if exclude_seed else None, k,
                                                   nprobe)
        seed_vectors = np.asarray(vectors.set.vectors[seed_rows], dtype=np.float32)
        ids, scores = recall(method, seed_vectors, k, search, vectors.normalised) if pool else (
            np.empty(0, np.int64), np.empty(0, np.float32))
        dense = ids.astype(np.uint32)
        if save_as:
            self.save(save_as, f"lookalike of ({seed_expression}) k={k} method={method}", dense)
        return LookalikeResult(
            snap.ids.decode(dense), [float(s) for s in scores], len(seed), len(seed_rows), len(pool),
            round((time.perf_counter() - started) * 1e3, 3), method, path, used_nprobe,
            vectors.set.meta["index"], snap.version,
        )

    def seed_vectors(self, pool: VectorPool, sample: int) -> SeedVectors:
        """Return this server's part of a seed: its sizes, its vectors' sum and up to `sample` of its vectors."""
        snap, vectors, seed, seed_rows = self._seed(pool.seed_expression)
        candidates = pool_of(self._candidates(snap, vectors, pool.candidate_expression), seed, pool.exclude_seed)
        dim = int(vectors.set.meta["dim"])
        total = np.zeros(dim, dtype=np.float64)
        for start in range(0, len(seed_rows), 65536):  # bounds the copy of a large seed's vectors
            total += np.asarray(vectors.set.vectors[seed_rows[start : start + 65536]], dtype=np.float32).sum(
                axis=0, dtype=np.float64)
        picked = sampled_rows(seed_rows, max(0, sample))
        return SeedVectors(len(seed), len(seed_rows), len(candidates), total,
                           np.asarray(vectors.set.vectors[picked], dtype=np.float32).reshape(len(picked), dim),
                           vectors.normalised, vectors.set.meta["index"], snap.version)

    def search(self, pool: VectorPool, queries: np.ndarray, k: int, *, nprobe: int = 0,
               narrow: bool = False) -> VectorHits:
        """Return this server's top k pool users for each query."""
        check_request(k, nprobe, self.max_k)
        snap, vectors, seed, _ = self._seed(pool.seed_expression)
        if queries.ndim != 2 or queries.shape[1] != int(vectors.set.meta["dim"]):
            raise InvalidArgumentError(f"query vectors have {queries.shape[-1]} dimensions; the embeddings have "
                                       f"{vectors.set.meta['dim']}")
        kept = self._candidates(snap, vectors, pool.candidate_expression)
        candidates = pool_of(kept, seed, pool.exclude_seed)
        if not candidates:
            empty = np.empty((len(queries), 0))
            return VectorHits(empty.astype(np.float32), empty.astype(np.int64), [], "exact", 0, snap.version)
        search, path, used = self._searcher(vectors, kept, candidates, seed if pool.exclude_seed else None, k,
                                            nprobe)
        scores, ids = search(np.ascontiguousarray(queries, dtype=np.float32), k, narrow)
        found = ids[ids >= 0].astype(np.uint32)
        return VectorHits(np.asarray(scores, np.float32), np.asarray(ids, np.int64), snap.ids.decode(found), path,
                          used, snap.version)

    def save(self, name: str, description: str, dense_ids: np.ndarray) -> AudienceInfo:
        """Save dense IDs of the current snapshot as an audience, replacing one of the same name."""
        snap = self.engine.snapshot()
        if len(dense_ids) and int(dense_ids.max()) >= len(snap.ids):
            raise InvalidArgumentError(f"dense ID {int(dense_ids.max())} is not a user of this server "
                                       f"({len(snap.ids)} users); nothing was saved")
        return self.engine.audiences.save(name, description, bitmap_from_array(dense_ids), snap.version,
                                          overwrite=True)

    def _seed(self, seed_expression: str) -> tuple[Snapshot, _Vectors, AbstractBitMap, np.ndarray]:
        snap, seed = self.engine.audience(seed_expression)
        vectors = self.vectors(snap)
        return snap, vectors, seed, vectors.set.rows_of(np.frombuffer(seed.to_array(), dtype=np.uint32))

    def _candidates(self, snap: Snapshot, vectors: _Vectors, expression: str) -> CandidatePool:
        """Return the users of a candidate expression that have vectors (all of them for an empty one), kept
        per snapshot version with their FAISS membership bits when an IVF search may need them."""
        text = expression.strip()

        def build() -> CandidatePool:
            users = vectors.users if not text else self.engine.audience(text)[1] & vectors.users
            ivf = vectors.set.meta["index"] != "flat" and len(users) > self.exact_pool_max
            packed = packed_members(np.frombuffer(users.to_array(), dtype=np.uint32),
                                    int(vectors.set.ids[-1]) + 1) if ivf else None
            return CandidatePool(users, packed)

        return self.pools.get(snap.version, text, build)

    def _searcher(self, vectors: _Vectors, candidates: CandidatePool, pool: AbstractBitMap,
                  excluded: AbstractBitMap | None, k: int, nprobe: int) -> tuple[methods.Search, str, int]:
        """Return the search over `pool` (the candidates less `excluded`), its path and its nprobe."""
        index_type = vectors.set.meta["index"]
        if (index_type == "flat" or len(pool) <= self.exact_pool_max or 4 * k >= len(pool)
                or candidates.packed is None):
            return self._exact_search(vectors, pool), "exact", 0
        used = nprobe or default_nprobe(vectors.set.meta, len(pool), len(vectors.users), k)
        packed = candidates.packed if excluded is None else without_members(
            candidates.packed, np.frombuffer(excluded.to_array(), dtype=np.uint32))
        return self._ivf_search(vectors, packed, used), "approximate", used

    @staticmethod
    def _exact_search(vectors: _Vectors, pool: AbstractBitMap) -> methods.Search:
        rows = vectors.set.rows_of(np.frombuffer(pool.to_array(), dtype=np.uint32))
        matrix = np.asarray(vectors.set.vectors[rows], dtype=np.float32)
        ids = vectors.set.ids[rows].astype(np.int64)

        def search(queries: np.ndarray, k: int, narrow: bool = False) -> tuple[np.ndarray, np.ndarray]:
            k = min(k, len(ids))
            out_scores = np.empty((len(queries), k), dtype=np.float32)
            out_ids = np.empty((len(queries), k), dtype=np.int64)
            for start in range(0, len(queries), 256):  # bounds the score matrix to 256 x pool
                scores = queries[start : start + 256] @ matrix.T
                top = np.argpartition(-scores, k - 1, axis=1)[:, :k] if k < len(ids) else np.argsort(-scores, axis=1)
                out_scores[start : start + 256] = np.take_along_axis(scores, top, axis=1)
                out_ids[start : start + 256] = ids[top]
            return out_scores, out_ids

        return search

    @staticmethod
    def _ivf_search(vectors: _Vectors, packed: np.ndarray, nprobe: int) -> methods.Search:
        faiss = faiss_module()
        selector = faiss.IDSelectorBitmap(8 * len(packed), faiss.swig_ptr(packed))
        wide = faiss.SearchParametersIVF(sel=selector, nprobe=nprobe)
        # A data point's neighbours sit in few lists; a centroid between clusters needs many. KNN_VOTE at 1M x 64
        # (1,000 voters): nprobe // 16 (42 lists) 690 ms, // 64 (10 lists) 204 ms, both finding every hidden user.
        narrow_params = faiss.SearchParametersIVF(sel=selector, nprobe=max(8, nprobe // 64))
        index: Any = vectors.set.index
        threads = faiss.omp_get_max_threads()

        def search(queries: np.ndarray, k: int, narrow: bool = False) -> tuple[np.ndarray, np.ndarray]:
            _ = packed  # the selector reads this buffer: keep it alive while searching
            params = narrow_params if narrow else wide
            # One query scans its lists on every OpenMP thread (at 10M x 32, nprobe 1024: 32 -> 24 ms); many
            # queries (KNN_VOTE) split over queries. Concurrent searches may see each other's mode: speed only.
            index.parallel_mode = 1 if len(queries) < threads else 0
            scores, ids = index.search(np.ascontiguousarray(queries, dtype=np.float32), k, params=params)
            return scores, ids

        return search


def pool_of(candidates: CandidatePool, seed: AbstractBitMap, exclude_seed: bool) -> AbstractBitMap:
    """Return the users a lookalike may answer with: the candidates, less the seed unless it is included."""
    return candidates.users - seed if exclude_seed else candidates.users


def default_nprobe(meta: dict[str, Any], pool: int, users: int, k: int) -> int:
    """Return the lists to probe for top-k in a pool: what the build measured for recall 0.95 at k / pool share
    (the pool's top k are its share of the whole index's top k / share), and never fewer than hold k pool
    members. An index built before that measurement falls back to nlist/8 over sqrt(share)."""
    nlist = int(meta["nlist"])
    share = pool / max(1, users)
    needed = math.ceil(3 * k * nlist / pool)
    calibration = meta.get("nprobe_recall")
    if calibration:
        return min(nlist, max(nprobe_for(calibration, k / share, nlist), needed))
    base = max(8, nlist // 8)  # measured: 1M x 64, 30% pool, nprobe 800 of 4000 gives recall 0.97
    return min(nlist, max(math.ceil(base / math.sqrt(share)), needed))
