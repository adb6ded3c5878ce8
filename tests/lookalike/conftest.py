"""A clustered embedding world shared by the lookalike tests."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from loaders.embeddings import load_embeddings
from loaders.tags import load_tags

N, DIM, CLUSTERS, PLANTED = 20_000, 16, 40, 7


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    rng = np.random.default_rng(3)
    centers = rng.standard_normal((CLUSTERS, DIM)).astype(np.float32) * 2
    cluster = rng.integers(0, CLUSTERS, N)
    vectors = centers[cluster] + rng.standard_normal((N, DIM)).astype(np.float32)
    user_ids = np.arange(N, dtype=np.int64) * 11 + 5
    members = np.flatnonzero(cluster == PLANTED)
    hidden = set(rng.choice(members, len(members) // 5, replace=False).tolist())
    seed = [m for m in members if m not in hidden]
    region = rng.choice(["north", "south", "east", "west", "centre"], N)
    tags = pl.DataFrame({"user_id": user_ids, "region": region,
                         "seed_group": ["yes" if s else None for s in np.isin(np.arange(N), seed)]})
    root = tmp_path_factory.mktemp("lookalike")
    tags.write_parquet(root / "tags.parquet")
    # 1,000 users have a vector and no tags: still known users
    extra_ids = np.arange(N, N + 1000, dtype=np.int64) * 11 + 5
    extra = rng.standard_normal((1000, DIM)).astype(np.float32)
    pl.DataFrame({"user_id": np.concatenate([user_ids, extra_ids]),
                  "embedding": np.concatenate([vectors, extra]).tolist()}).write_parquet(root / "vectors.parquet")
    load_tags([str(root / "tags.parquet")], root / "data", shard_bits=12)
    load_embeddings([str(root / "vectors.parquet")], root / "data", index="ivf", nlist=64, shard_bits=12)
    unit = np.concatenate([vectors, extra])
    unit = unit / np.linalg.norm(unit, axis=1, keepdims=True)
    return {"root": root, "data": root / "data", "unit": unit, "ids": np.concatenate([user_ids, extra_ids]),
            "hidden": {str(user_ids[h]) for h in hidden}, "seed": {str(user_ids[s]) for s in seed},
            "region": dict(zip(map(str, user_ids), region, strict=True)), "members": len(members)}


