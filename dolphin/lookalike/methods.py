"""The three ways to turn seed vectors into ranked candidates, each over a `search` function.

`search(queries, k, narrow)` returns (scores, dense ids) as FAISS does: one row per query, -1 for missing results;
narrow=True says the queries are data points, whose neighbours sit in few IVF lists, so fewer are probed.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from dolphin.storage.faiss_runtime import faiss_module

Search = Callable[[np.ndarray, int, bool], tuple[np.ndarray, np.ndarray]]

KNN_VOTE_MAX_SEEDS = 1000
KNN_VOTE_RESULTS = 2_000_000


def _unit(vectors: np.ndarray, normalise: bool) -> np.ndarray:
    if not normalise:
        return vectors
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.asarray(vectors / np.where(norms == 0, 1, norms), dtype=np.float32)


def ranked(ids: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the top k (ids, scores): by descending score, ties by ascending ID, -1 ids dropped."""
    keep = ids >= 0
    ids, scores = ids[keep], scores[keep]
    order = np.lexsort((ids, -scores))[:k]
    return ids[order], scores[order]


def best_per_user(ids: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Collapse repeated ids to their highest score."""
    keep = ids >= 0
    ids, scores = ids[keep], scores[keep]
    order = np.lexsort((-scores, ids))
    ids, scores = ids[order], scores[order]
    first = np.ones(len(ids), dtype=bool)
    first[1:] = ids[1:] != ids[:-1]
    return ids[first], scores[first]


def centroid(seed: np.ndarray, k: int, search: Search, normalise: bool) -> tuple[np.ndarray, np.ndarray]:
    """One search from the mean of the seed vectors."""
    query = _unit(seed.mean(axis=0, keepdims=True, dtype=np.float64).astype(np.float32), normalise)
    scores, ids = search(query, k, False)
    return ranked(ids[0], scores[0], k)


def cluster_count(seed_size: int) -> int:
    """Return how many centroids a seed gets: about sqrt(n/20), between 2 and 8."""
    return max(2, min(8, round(math.sqrt(seed_size / 20))))


def multi_centroid(seed: np.ndarray, k: int, search: Search, normalise: bool) -> tuple[np.ndarray, np.ndarray]:
    """k-means of the seed into a few centroids; one search each; a user's score is its best similarity."""
    faiss = faiss_module()
    clusters = cluster_count(len(seed))
    if len(seed) < 2 * clusters:
        return centroid(seed, k, search, normalise)
    kmeans = faiss.Kmeans(seed.shape[1], clusters, niter=20, seed=1, spherical=normalise, verbose=False)
    kmeans.train(np.ascontiguousarray(seed, dtype=np.float32))
    scores, ids = search(_unit(np.asarray(kmeans.centroids, dtype=np.float32), normalise), k, False)
    unique_ids, best = best_per_user(ids.ravel(), scores.ravel())
    return ranked(unique_ids, best, k)


def _sample(seed: np.ndarray, limit: int) -> np.ndarray:
    if len(seed) <= limit:
        return seed
    return seed[np.sort(np.random.default_rng(0).choice(len(seed), limit, replace=False))]


def knn_vote(seed: np.ndarray, k: int, search: Search) -> tuple[np.ndarray, np.ndarray]:
    """Each seed user's nearest neighbours vote with their similarity; candidates ranked by the summed votes.

    A tight seed shares its neighbours, so the neighbourhood widens until k distinct users have votes: by what
    the last round found short of k (distinct users grow about in proportion to the neighbours asked for), with
    a margin, at least x2 and at most x4; each round is a full IVF scan, so fewer rounds is most of the cost.
    Seeds are sampled (deterministically) so that one round asks for at most KNN_VOTE_RESULTS neighbours.
    """
    # A round's cost is its IVF scan, which hardly depends on how many neighbours it keeps, so the first round
    # asks for 8x the even share (1M x 64, k = 2,366: four rounds of 10, 28, 64 and 128 neighbours took 256 ms;
    # one round of 80 took 53 ms and found the same hidden users)
    per_seed = min(k, 8 * max(10, math.ceil(3 * k / min(len(seed), KNN_VOTE_MAX_SEEDS))))
    while True:
        voters = _sample(seed, max(1, min(KNN_VOTE_MAX_SEEDS, KNN_VOTE_RESULTS // per_seed)))
        scores, ids = search(np.ascontiguousarray(voters), per_seed, True)
        flat_ids, flat_scores = ids.ravel(), scores.ravel()
        keep = flat_ids >= 0
        unique_ids, inverse = np.unique(flat_ids[keep], return_inverse=True)
        exhausted = keep.sum() < ids.size  # the pool had fewer users than asked for
        if len(unique_ids) >= k or exhausted or per_seed >= k:
            votes = np.bincount(inverse, weights=flat_scores[keep]).astype(np.float32)
            return ranked(unique_ids, votes, k)
        growth = min(4.0, max(2.0, 1.25 * k / max(1, len(unique_ids))))
        per_seed = min(k, math.ceil(per_seed * growth))
