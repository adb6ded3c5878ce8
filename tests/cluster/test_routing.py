"""Stream batches split by shard: applied to the shards of a cluster root, they give what the whole batches give
on one node; every shard's offsets advance together; resends are skipped on every shard."""

from __future__ import annotations

import pathlib
import random

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dolphin.cluster.routing import split_batch
from dolphin.storage.cluster_file import read_cluster
from dolphin.storage.partition import shard_of
from dolphin.stream import IngestSettings, open_stream
from dolphin.stream.batches import Mutation, MutationBatch, MutationOp
from loaders.cluster import load_tags_into_cluster
from loaders.tags import load_tags

USERS = [f"u{i}" for i in range(120)]


def random_batch(rng: random.Random, offset: int) -> MutationBatch:
    out = []
    for _ in range(rng.randrange(1, 40)):
        user, roll = rng.choice(USERS), rng.random()
        if roll < 0.45:
            out.append(Mutation(user, MutationOp.SET, "city", rng.choice("abcd")))
        elif roll < 0.9:
            out.append(Mutation(user, rng.choice([MutationOp.ADD, MutationOp.REMOVE]), "hobby", rng.choice("xyz")))
        else:
            out.append(Mutation(user, MutationOp.DELETE_USER))
    return MutationBatch.of("k/0", offset, out)


@given(st.lists(st.sampled_from(["u1", "u2", "杭州", "x" * 30, "u99"]), max_size=30), st.integers(1, 5))
def test_parts_hold_each_mutation_once_on_its_user_s_shard_in_order(users: list[str], shards: int) -> None:
    batch = MutationBatch.of("s", 3, [Mutation(u, MutationOp.ADD, "d", str(i)) for i, u in enumerate(users)])
    parts = split_batch(batch, "string", shards)
    assert len(parts) == shards and all((p.source, p.offset) == ("s", 3) for p in parts)
    owner = shard_of(pl.Series(users, dtype=pl.String), "string", shards).tolist()
    for shard, part in enumerate(parts):
        want = [str(i) for i, o in enumerate(owner) if o == shard]
        assert part.values == want  # its mutations, in the batch's order
        assert all(owner[int(v)] == shard for v in part.values)


def test_int64_ids_route_by_the_integer() -> None:
    batch = MutationBatch.of("s", 1, [Mutation("0042", MutationOp.ADD, "d", "v"),
                                      Mutation("42", MutationOp.ADD, "d", "w")])
    parts = split_batch(batch, "int64", 4)
    assert sum(len(p) == 2 for p in parts) == 1  # "0042" and "42" are one user
    with pytest.raises(ValueError, match='"abc" is not an int64'):
        split_batch(MutationBatch.of("s", 2, [Mutation("abc", MutationOp.ADD, "d", "v")]), "int64", 4)


def test_split_batches_on_shards_equal_whole_batches_on_one_node(tmp_path: pathlib.Path) -> None:
    rng = random.Random(4)
    base = pl.DataFrame({"user_id": USERS[:80], "city": [rng.choice("abc") for _ in range(80)],
                         "hobby": [rng.sample("xyz", rng.randrange(3)) for _ in range(80)]})
    base.write_parquet(tmp_path / "base.parquet")
    load_tags([str(tmp_path / "base.parquet")], tmp_path / "single", shard_bits=6)
    load_tags_into_cluster([str(tmp_path / "base.parquet")], tmp_path / "root", shards=3, shard_bits=6)
    settings = IngestSettings(checkpoint_seconds=0)
    single = open_stream(tmp_path / "single", settings)
    dirs = read_cluster(tmp_path / "root").shard_dirs(tmp_path / "root")
    shards = [open_stream(d, settings) for d in dirs]
    batches = [random_batch(rng, offset) for offset in range(30)]
    for batch in batches:
        single.submit(batch).result()
        for shard, part in zip(shards, split_batch(batch, "string", 3), strict=True):
            shard.submit(part).result()
    assert all(s.offsets() == {"k/0": 29} for s in shards)  # empty parts advanced them too
    again = [s.submit(p).result() for s, p in zip(shards, split_batch(batches[-1], "string", 3), strict=True)]
    assert all(a.skipped for a in again)  # a resend is skipped on every shard
    for expression in ["ALL", "city=a", "city IN (b, c, d)", "hobby=x AND NOT hobby=y", "NOT city=a"]:
        want = single.engine.count(expression).count
        assert sum(s.engine.count(expression).count for s in shards) == want, expression
    members = lambda e: {u for page in e.export_pages("hobby=z", page_size=1000) for u in page.user_ids}  # noqa: E731
    assert set().union(*(members(s.engine) for s in shards)) == members(single.engine)
    for ingestor in [single, *shards]:
        ingestor.close(checkpoint=False)
