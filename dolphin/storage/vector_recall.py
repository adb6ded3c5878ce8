"""How many IVF lists a search must probe to reach a recall target, measured on the index when it is built.

Recall against nprobe depends on the data: on the lookalike bench, recall@1000 reached 0.95 at about 700 of
4,000 lists for 1M x 64 and at about 930 of 12,649 lists for 10M x 32. A fixed rule either overshoots (and pays
latency) or falls short, so the build measures it: queries shaped like lookalike seeds (the mean of the nearest
neighbours of 1, 2 or 6 random users: a group of similar users, from one interest or a few), the seed itself
left out of the answers as a lookalike leaves it out (which removes the densest neighbourhood and makes IVF
probe further), exact top-k by NumPy, then the IVF index at growing nprobe until each kind's mean recall
reaches the target, for a few k, and a bisection between the last two steps (to within 5%). The lookalike's
default nprobe reads this table. Means of random users instead (nearer the middle of the space,
harder for IVF) asked for 1.4x the lists the bench's seeds need at 10M x 32.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dolphin.storage.faiss_runtime import faiss_module

RECALL_TARGET = 0.95
CALIBRATION_KS = (100, 300, 1000, 3000, 10_000)
QUERIES = 24
GROUP_SIZES = (1, 2, 6)
NEIGHBOURHOOD = 1000
NEIGHBOURHOOD_NPROBE = 16
CHUNK_ROWS = 1 << 19
PRECISION = 0.05  # the calibrated nprobe is at most this share above the smallest that reaches the target


def calibration_queries(index: Any, vectors: np.ndarray, ids: np.ndarray, count: int, normalise: bool,
                        seed: int = 0) -> tuple[np.ndarray, list[np.ndarray]]:
    """Return seed-like queries and their seeds: each seed is the NEIGHBOURHOOD nearest neighbours (dense IDs) of
    1, 2 or 6 random users (a group of similar users, from one interest or a few), each query its seed's mean,
    unit length when normalise."""
    faiss = faiss_module()
    rng = np.random.default_rng(seed)
    out = np.empty((count, vectors.shape[1]), dtype=np.float32)
    seeds = []
    for i in range(count):
        anchors = np.sort(rng.choice(len(vectors), GROUP_SIZES[i % len(GROUP_SIZES)], replace=False))
        _, near = index.search(np.ascontiguousarray(vectors[anchors], dtype=np.float32), NEIGHBOURHOOD,
                               params=faiss.SearchParametersIVF(nprobe=NEIGHBOURHOOD_NPROBE))
        members = np.unique(near[near >= 0])
        rows = np.searchsorted(ids, members.astype(ids.dtype))
        mean = np.asarray(vectors[rows], dtype=np.float64).mean(axis=0)
        norm = np.linalg.norm(mean)
        out[i] = mean / norm if normalise and norm > 0 else mean
        seeds.append(members.astype(np.int64))
    return out, seeds


def without_seeds(found: np.ndarray, seeds: list[np.ndarray], k: int) -> np.ndarray:
    """Return each row's first k IDs that are not in its seed (-1 padded), as a lookalike excludes its seed."""
    out = np.full((len(found), k), -1, dtype=np.int64)
    for row, (ids, seed) in enumerate(zip(found, seeds, strict=True)):
        kept = ids[(ids >= 0) & ~np.isin(ids, seed)][:k]
        out[row, : len(kept)] = kept
    return out


def exact_top(vectors: np.ndarray, ids: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Return the ids of each query's k best inner products (queries x k, best first), chunk by chunk."""
    best_scores = np.full((len(queries), 0), -np.inf, dtype=np.float32)
    best_ids = np.empty((len(queries), 0), dtype=np.int64)
    for start in range(0, len(vectors), CHUNK_ROWS):
        chunk = np.asarray(vectors[start : start + CHUNK_ROWS], dtype=np.float32)
        scores = np.concatenate([best_scores, (chunk @ queries.T).T], axis=1)
        chunk_ids = np.concatenate([best_ids, np.broadcast_to(ids[start : start + len(chunk)].astype(np.int64),
                                                              (len(queries), len(chunk)))], axis=1)
        if scores.shape[1] > k:
            keep = np.argpartition(-scores, k - 1, axis=1)[:, :k]
            scores, chunk_ids = np.take_along_axis(scores, keep, axis=1), np.take_along_axis(chunk_ids, keep, axis=1)
        best_scores, best_ids = scores, chunk_ids
    order = np.argsort(-best_scores, axis=1, kind="stable")
    result: np.ndarray = np.take_along_axis(best_ids, order, axis=1)
    return result


def recalls(found: np.ndarray, truth: np.ndarray, k: int) -> np.ndarray:
    """Return each query's |found[:k] & truth[:k]| / k."""
    return np.array([len(np.intersect1d(f[:k][f[:k] >= 0], t[:k], assume_unique=True)) for f, t in zip(
        found, truth, strict=True)], dtype=np.float64) / k


def worst_kind_recall(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    """Return the lowest, over the kinds of query (1, 2 or 6 anchors), of the kind's mean recall: a seed spread
    over several interests is harder for IVF than a tight one, and the default must serve both."""
    per_query = recalls(found, truth, k)
    kinds = np.arange(len(per_query)) % len(GROUP_SIZES)
    return float(min(per_query[kinds == kind].mean() for kind in range(len(GROUP_SIZES))))


def nprobe_ladder(nlist: int) -> list[int]:
    """Return nprobe values growing by about sqrt(2), from 1 to nlist."""
    values = sorted({min(nlist, round(2 ** (i / 2))) for i in range(2 * max(1, nlist).bit_length() + 2)})
    return values


def calibrate(index: Any, vectors: np.ndarray, ids: np.ndarray, *, normalise: bool,
              target: float = RECALL_TARGET) -> dict[str, Any]:
    """Return {"target", "k": [...], "nprobe": [...]}: for each k, the smallest nprobe (within PRECISION) at which
    every kind of query reaches `target` on average."""
    faiss = faiss_module()
    ks = [k for k in CALIBRATION_KS if k <= len(vectors) // 20]
    if not ks:
        return {}
    queries, seeds = calibration_queries(index, vectors, ids, QUERIES, normalise)
    wide = ks[-1] + max(len(seed) for seed in seeds)  # enough to fill k after the seed is left out
    truth = without_seeds(exact_top(vectors, ids, queries, wide), seeds, ks[-1])
    found: dict[int, np.ndarray] = {}

    def reaches(nprobe: int, k: int) -> bool:
        if nprobe not in found:
            _, near = index.search(queries, wide, params=faiss.SearchParametersIVF(nprobe=nprobe))
            found[nprobe] = without_seeds(near, seeds, ks[-1])
        return worst_kind_recall(found[nprobe], truth, k) >= target

    solved: dict[int, int] = {}
    missed = dict.fromkeys(ks, 0)  # the largest nprobe seen to fall short, per k
    nlist = int(index.nlist)
    for nprobe in nprobe_ladder(nlist):
        found.clear()  # one rung's answers at a time (24 x wide IDs each)
        for k in ks:
            if k not in solved:
                if reaches(nprobe, k):
                    solved[k] = nprobe
                else:
                    missed[k] = nprobe
        if len(solved) == len(ks):
            break
    # The ladder steps by sqrt(2): its first passing rung probes up to 41% more lists than the target needs
    # (10M x 32: recall 0.984 at the default, not 0.95). Bisect between the rungs.
    for k, high in solved.items():
        low = missed[k]
        found.clear()
        while high - low > max(1, math.floor(high * PRECISION)):
            middle = (low + high) // 2
            if reaches(middle, k):
                high = middle
            else:
                low = middle
        solved[k] = high
    return {"target": target, "k": ks, "nprobe": [solved.get(k, nlist) for k in ks]}


def nprobe_for(calibration: dict[str, Any], k: float, nlist: int) -> int:
    """Return the calibrated nprobe for top-k (k may be fractional: k / pool share), log-interpolated in k;
    beyond the largest calibrated k, extrapolated along the last segment's slope (in log-log)."""
    ks, probes = calibration["k"], calibration["nprobe"]
    if k <= ks[0]:
        return int(probes[0])
    if k >= ks[-1]:
        slope = 0.5
        if len(ks) > 1:
            slope = min(1.0, max(0.0, math.log(probes[-1] / probes[-2]) / math.log(ks[-1] / ks[-2])))
        return int(min(nlist, math.ceil(float(probes[-1]) * (k / float(ks[-1])) ** slope)))
    value = np.interp(np.log(k), np.log(ks), np.log(probes))
    return min(nlist, math.ceil(float(np.exp(value))))
