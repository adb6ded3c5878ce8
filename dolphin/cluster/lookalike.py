"""Lookalike over shards: the front builds the queries from every shard's seed, each shard searches its own FAISS
index and pool, and the front keeps the best k of all.

The methods are the single node's (`dolphin.lookalike.methods`), run over a search function that fans a batch
of queries out to every shard once and merges their top k per query. A user is keyed by shard << 32 | dense ID,
so ties break by shard, then by dense ID. CENTROID's query is the mean of every seed vector (summed by the
shards); MULTI_CENTROID and KNN_VOTE work on a uniform sample of the seed drawn from each shard in proportion
to its seed, as large as the single node's k-means and voting ever use.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from dolphin.cluster.engine import ClusterEngine
from dolphin.engine.audiences import check_name
from dolphin.lookalike import LookalikeResult, Method, check_request, no_seed_vectors, recall
from dolphin.lookalike.methods import KNN_VOTE_MAX_SEEDS
from dolphin.v1 import shard_service_pb2 as shard_pb

SEED_SAMPLE = max(256 * 8, KNN_VOTE_MAX_SEEDS)  # k-means trains on at most 256 points per centroid, 8 centroids
SHARD_SHIFT = 32


def seed_sample(parts: list[shard_pb.SeedVectorsResponse], limit: int) -> np.ndarray:
    """Return up to limit seed vectors, drawn from the shards' samples in proportion to their seeds."""
    total = sum(p.seed_with_vectors for p in parts)
    wanted = min(limit, total)
    rows = []
    for part in parts:
        sample = np.frombuffer(part.sample, dtype="<f4").reshape(-1, part.dimension)
        share = round(wanted * part.seed_with_vectors / total) if total else 0
        rows.append(sample[:share])  # each shard's sample is uniform, so its first rows are too
    return np.ascontiguousarray(np.concatenate(rows), dtype=np.float32)


def best_of_shards(answers: list[shard_pb.SearchVectorsResponse], queries: int, k: int
                   ) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
    """Return the top k (scores, keys) per query over every shard's answer, and each key's external ID."""
    scores: list[np.ndarray] = []
    keys: list[np.ndarray] = []
    names: dict[int, str] = {}
    for shard, answer in enumerate(answers):
        dense = np.frombuffer(answer.dense_ids, dtype="<i8").reshape(queries, answer.k)
        key = np.where(dense >= 0, (np.int64(shard) << SHARD_SHIFT) | np.maximum(dense, 0), -1)
        found = key[key >= 0]
        names.update(zip(found.tolist(), answer.user_ids, strict=True))
        scores.append(np.where(dense >= 0, np.frombuffer(answer.scores, dtype="<f4").reshape(queries, answer.k),
                               -np.inf))
        keys.append(key)
    all_scores, all_keys = np.concatenate(scores, axis=1), np.concatenate(keys, axis=1)
    order = np.lexsort((all_keys, -all_scores), axis=-1)[:, :k]
    top_scores = np.take_along_axis(all_scores, order, axis=1)
    top_keys = np.where(np.isfinite(top_scores), np.take_along_axis(all_keys, order, axis=1), -1)
    return top_scores.astype(np.float32), top_keys, names


class ClusterLookalike:
    """Lookalike recall over a cluster's shards, behind the same LookalikeApi as one node's Lookalike."""

    def __init__(self, engine: ClusterEngine, *, max_k: int = 100_000) -> None:
        self.engine = engine
        self.max_k = max_k

    def cache_bytes(self) -> dict[str, int]:
        """Return nothing: a front keeps no pools (its shards report theirs in their Status)."""
        return {}

    def warm(self) -> None:
        """Nothing to open here: every shard opens its own vectors."""

    def run(self, seed_expression: str, *, candidate_expression: str = "", k: int = 1000, exclude_seed: bool = True,
            method: Method = Method.CENTROID, nprobe: int = 0, save_as: str = "") -> LookalikeResult:
        """Return the k users most similar to the seed among the candidates, over every shard."""
        started = time.perf_counter()
        check_request(k, nprobe, self.max_k)
        if save_as:
            check_name(save_as)
        pool = shard_pb.VectorPool(seed_expression=self.engine.shard_expression(seed_expression),
                                   candidate_expression=self.engine.optional_expression(candidate_expression),
                                   exclude_seed=exclude_seed)
        channels = self.engine.channels
        with self.engine.gate.reading():
            sample = 0 if method is Method.CENTROID else SEED_SAMPLE
            parts = channels.fan_out(lambda s: s.shard.SeedVectors, shard_pb.SeedVectorsRequest(pool=pool,
                                                                                                 sample=sample))
            with_vectors = sum(p.seed_with_vectors for p in parts)
            if not with_vectors:
                raise no_seed_vectors(sum(p.seed_count for p in parts))
            seed = (np.sum([np.array(p.vector_sum) for p in parts], axis=0, keepdims=True) / with_vectors
                    ).astype(np.float32) if method is Method.CENTROID else seed_sample(parts, SEED_SAMPLE)
            searched: list[Any] = []
            names: dict[int, str] = {}

            def search(queries: np.ndarray, per_query: int, narrow: bool = False) -> tuple[np.ndarray, np.ndarray]:
                request = shard_pb.SearchVectorsRequest(
                    pool=pool, queries=np.ascontiguousarray(queries, dtype="<f4").tobytes(),
                    dimension=queries.shape[1], k=per_query, nprobe=nprobe, narrow=narrow)
                answers = channels.fan_out(lambda s: s.shard.SearchVectors, request)
                searched.extend(answers)
                scores, keys, found = best_of_shards(answers, len(queries), per_query)
                names.update(found)
                return scores, keys

            candidates = sum(p.candidates_count for p in parts)
            keys, scores = recall(method, seed, k, search, parts[0].normalised) if candidates else (
                np.empty(0, np.int64), np.empty(0, np.float32))
            if save_as:
                self._save(save_as, f"lookalike of ({seed_expression}) k={k} method={method}", keys)
        exact = all(a.search_path == "exact" for a in searched)
        return LookalikeResult(
            [names[int(key)] for key in keys], [float(s) for s in scores], sum(p.seed_count for p in parts),
            with_vectors, candidates, round((time.perf_counter() - started) * 1e3, 3), method,
            "exact" if exact else "approximate", max((a.nprobe for a in searched), default=0),
            parts[0].index_type, min(p.snapshot_version for p in parts))

    def _save(self, name: str, description: str, keys: np.ndarray) -> None:
        shards = keys >> SHARD_SHIFT
        dense = (keys & 0xFFFFFFFF).astype("<u4")
        requests = [shard_pb.SaveUsersRequest(name=name, description=description,
                                              dense_ids=np.sort(dense[shards == k]).tobytes())
                    for k in range(self.engine.channels.count)]
        self.engine.channels.fan_out(lambda s: s.shard.SaveUsers, requests)
