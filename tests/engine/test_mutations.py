"""Copy-on-write batch mutations against a Python model; bad batches apply nothing; old snapshots never change."""

from __future__ import annotations

import pathlib
import tempfile

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dolphin.engine import Engine
from dolphin.engine.mutations import Mutation, MutationOp, apply_batch
from dolphin.errors import InvalidArgumentError
from loaders.batch import load_tags

USERS = [f"u{i}" for i in range(12)]


def base_engine(root: pathlib.Path) -> Engine:
    pl.DataFrame({"user_id": USERS[:8], "city": ["a", "b", "a", None, "c", "b", "a", "c"],
                  "hobby": [["x"], ["x", "y"], [], None, ["z"], ["y"], ["x", "z"], []]}).write_parquet(root / "t.pq")
    load_tags([str(root / "t.pq")], root / "data", shard_bits=3)
    return Engine(root / "data")


def model_of(engine: Engine) -> tuple[set[str], dict[str, dict[str, set[str]]]]:
    snap = engine.ref.current
    decode = lambda bm: set(snap.ids.decode(np.frombuffer(bm.to_array(), dtype=np.uint32)))  # noqa: E731
    return decode(snap.population), {d: {v: decode(bm) for v, bm in vs.items()} for d, vs in snap.tags.items()}


MUTATIONS = st.one_of(
    st.builds(Mutation, st.sampled_from(USERS), st.just(MutationOp.SET), st.just("city"), st.sampled_from("abcd")),
    st.builds(Mutation, st.sampled_from(USERS), st.sampled_from([MutationOp.ADD, MutationOp.REMOVE]),
              st.just("hobby"), st.sampled_from("xyzw")),
    st.builds(Mutation, st.sampled_from(USERS), st.just(MutationOp.DELETE_USER)),
)


@settings(max_examples=60)
@given(st.lists(st.lists(MUTATIONS, max_size=15), min_size=1, max_size=4))
def test_batches_equal_the_model(batches: list[list[Mutation]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        engine = base_engine(pathlib.Path(tmp))
        population, tags = model_of(engine)
        for batch in batches:
            before = engine.ref.current
            frozen_before = model_of(engine)
            engine.ref.swap(apply_batch(before, batch, batch="t"))
            for m in batch:  # the model: plain sets, mutation by mutation
                if m.op is MutationOp.DELETE_USER:
                    population.discard(m.user_id)
                    for values in tags.values():
                        for users in values.values():
                            users.discard(m.user_id)
                    continue
                if m.op is not MutationOp.REMOVE:
                    population.add(m.user_id)
                values = tags.setdefault(m.dimension, {})
                if m.op is MutationOp.SET:
                    for users in values.values():
                        users.discard(m.user_id)
                if m.op is MutationOp.REMOVE:
                    values.get(m.value, set()).discard(m.user_id)
                else:
                    values.setdefault(m.value, set()).add(m.user_id)
            got_population, got_tags = model_of(engine)
            assert got_population == population
            assert got_tags == {d: {v: u for v, u in vs.items() if u} for d, vs in tags.items()}
            engine.ref.swap(before)
            assert model_of(engine) == frozen_before  # the old snapshot was never touched
            engine.ref.swap(apply_batch(before, batch, batch="t"))
            assert engine.count("ALL").count == len(population)


@pytest.mark.parametrize(("mutation", "message"), [
    (Mutation("u1", MutationOp.SET, "hobby", "x"), 'set on multi-valued dimension "hobby"'),
    (Mutation("u1", MutationOp.ADD, "city", "a"), 'add on single-valued dimension "city"'),
    (Mutation("", MutationOp.ADD, "hobby", "x"), "user_id is empty"),
    (Mutation("u1", MutationOp.ADD, "", "x"), "dimension is empty"),
    (Mutation("u1", "drop", "hobby", "x"), "is not one of"),  # type: ignore[arg-type]
    (Mutation("u1", MutationOp.ADD, "hobby", "x" * 2000), "over 1024 characters"),
])
def test_bad_mutation_rejects_the_whole_batch(tmp_path: pathlib.Path, mutation: Mutation, message: str) -> None:
    engine = base_engine(tmp_path)
    before = model_of(engine)
    good = Mutation("u9", MutationOp.ADD, "hobby", "new")
    with pytest.raises(InvalidArgumentError, match=f"batch k/1: mutation 1: .*{message}"):
        apply_batch(engine.ref.current, [good, mutation], batch="k/1")
    assert model_of(engine) == before
