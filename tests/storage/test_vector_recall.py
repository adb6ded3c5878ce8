"""The build-time nprobe calibration: the nprobe it picks reaches the recall target on queries it did not see,
5% fewer lists do not on the queries it saw, and the lookup interpolates between calibrated k."""

from __future__ import annotations

import numpy as np
import pytest

from dolphin.storage.vector_recall import (
    calibrate,
    calibration_queries,
    exact_top,
    nprobe_for,
    nprobe_ladder,
    without_seeds,
    worst_kind_recall,
)
from dolphin.storage.vectors import build_index


@pytest.fixture(scope="module")
def clustered() -> tuple[np.ndarray, np.ndarray, object]:
    rng = np.random.default_rng(7)
    centres = rng.standard_normal((60, 16)).astype(np.float32)
    vectors = centres[rng.integers(0, 60, 40_000)] + 0.9 * rng.standard_normal((40_000, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = np.sort(rng.choice(1_000_000, 40_000, replace=False)).astype(np.uint32)  # dense IDs are not row numbers
    return vectors, ids, build_index(ids, vectors, "ivf", 128)


def test_exact_top_equals_a_full_sort(clustered: tuple[np.ndarray, np.ndarray, object]) -> None:
    vectors, ids, index = clustered
    queries, seeds = calibration_queries(index, vectors, ids, 4, normalise=True, seed=3)
    assert all(len(seed) >= 1000 for seed in seeds)  # a neighbourhood of 1,000 around each anchor
    top = exact_top(vectors, ids, queries, 50)
    full = np.argsort(-(vectors @ queries.T).T, axis=1)[:, :50]
    assert np.array_equal(top, ids[full].astype(np.int64))
    kept = without_seeds(top, seeds, 10)
    assert not any(np.isin(row, seed).any() for row, seed in zip(kept, seeds, strict=True))


def recall_on(index: object, vectors: np.ndarray, ids: np.ndarray, seed: int, k: int, nprobe: int) -> float:
    """The lookalike's situation on fresh queries: seeds left out, the worst kind of query's mean recall."""
    import faiss

    queries, seeds = calibration_queries(index, vectors, ids, 24, normalise=True, seed=seed)
    wide = k + max(len(s) for s in seeds)
    truth = without_seeds(exact_top(vectors, ids, queries, wide), seeds, k)
    _, found = index.search(queries, wide, params=faiss.SearchParametersIVF(nprobe=nprobe))  # type: ignore[attr-defined]
    return worst_kind_recall(without_seeds(found, seeds, k), truth, k)


def test_calibrated_nprobe_reaches_the_target_on_unseen_queries(
        clustered: tuple[np.ndarray, np.ndarray, object]) -> None:
    vectors, ids, index = clustered
    table = calibrate(index, vectors, ids, normalise=True)
    assert table["k"] == [100, 300, 1000] and table["target"] == 0.95
    assert table["nprobe"] == sorted(table["nprobe"]) and table["nprobe"][-1] < 128  # not the whole index
    for k, nprobe in zip(table["k"], table["nprobe"], strict=True):
        assert recall_on(index, vectors, ids, 99, k, nprobe) >= 0.9, (k, nprobe)  # the target, less sampling noise
        assert recall_on(index, vectors, ids, 0, k, nprobe) >= 0.95  # exactly the target where it was measured
        if nprobe > 1:  # and 5% fewer lists fall short there: the answer is not a coarse rung above the target
            fewer = nprobe - max(1, int(nprobe * 0.05))
            assert recall_on(index, vectors, ids, 0, k, fewer) < 0.95, (k, nprobe, fewer)


def test_nprobe_for_interpolates_in_k() -> None:
    table = {"target": 0.95, "k": [100, 1000, 10_000], "nprobe": [10, 40, 160]}
    assert nprobe_for(table, 50, 1000) == 10
    assert nprobe_for(table, 1000, 1000) == 40
    assert 40 < nprobe_for(table, 3333, 1000) < 160
    assert nprobe_for(table, 100_000, 1000) == 640  # beyond the table along the last slope (x4 per 10x k)
    assert nprobe_for(table, 10**9, 1000) == 1000  # never more than nlist


def test_ladder() -> None:
    assert nprobe_ladder(1) == [1]
    ladder = nprobe_ladder(4000)
    assert ladder[0] == 1 and ladder[-1] == 4000 and all(b / a <= 2 for a, b in zip(ladder, ladder[1:], strict=False))
