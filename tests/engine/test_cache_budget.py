"""The read caches' byte budget: a model of least-recently-used eviction, checked against it under hypothesis."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from dolphin.engine.cache_budget import CacheBudget

KEYS = st.sampled_from([("value_codes", "city", None), ("dimension_users", "city", None),
                        ("dimension_users", "gender", None), ("numeric_unions", "age", 3),
                        ("numeric_unions", "age", 5)])
OPS = st.lists(st.tuples(st.sampled_from(["get", "put"]), KEYS, st.integers(0, 120)), max_size=60)


def model_run(limit: int, ops: list[tuple[str, tuple[str, str, object], int]]) -> list[tuple[object, int]]:
    """The same operations on a plain list, most recently used last."""
    entries: list[tuple[object, object, int]] = []
    for op, key, size in ops:
        found = next((e for e in entries if e[0] == key), None)
        if op == "get":
            if found is not None:
                entries.remove(found)
                entries.append(found)
        elif size <= limit:
            if found is not None:
                entries.remove(found)
            entries.append((key, (key, size), size))
            while sum(e[2] for e in entries) > limit:
                entries.pop(0)
    return [(e[1], e[2]) for e in entries]


@given(st.integers(0, 300), OPS)
def test_budget_keeps_what_the_lru_model_keeps(limit: int, ops: list[tuple[str, tuple[str, str, object], int]]
                                               ) -> None:
    budget = CacheBudget(limit)
    for op, key, size in ops:
        if op == "get":
            budget.get(key)
        else:
            budget.put(key, (key, size), size)
    expected = model_run(limit, ops)
    kept = [(budget.get(value[0]), size) for value, size in expected]  # type: ignore[index]
    assert kept == expected
    totals = budget.bytes_by_cache(("value_codes", "dimension_users", "numeric_unions"))
    assert sum(totals.values()) == sum(size for _, size in expected) <= limit
    for name, total in totals.items():
        assert total == sum(size for value, size in expected if value[0][0] == name)  # type: ignore[index]


def test_a_value_over_the_limit_is_built_but_not_kept() -> None:
    budget = CacheBudget(100)
    builds: list[int] = []
    for _ in range(2):
        assert budget.cached(("value_codes", "city", None), lambda: builds.append(1) or "codes", lambda _: 101) == \
            "codes"
    assert len(builds) == 2 and not budget.fits(101) and budget.get(("value_codes", "city", None)) is None


def test_derived_drops_what_it_is_told_and_keeps_the_order() -> None:
    budget = CacheBudget(30)
    for name, size in (("a", 10), ("b", 10), ("c", 10)):
        budget.put(("dimension_users", name, None), name, size)
    budget.get(("dimension_users", "a", None))  # order now b, c, a
    derived = budget.derived(lambda key: key[1] == "c")
    assert derived.limit == 30 and derived.get(("dimension_users", "c", None)) is None
    derived.put(("dimension_users", "d", None), "d", 10)
    derived.put(("dimension_users", "e", None), "e", 10)  # over 30: b goes first, then nothing else
    assert [derived.get(("dimension_users", n, None)) for n in "abde"] == ["a", None, "d", "e"]
    assert budget.get(("dimension_users", "c", None)) == "c"  # the source is untouched


def test_a_per_user_budget_follows_the_users_and_drops_what_no_longer_fits() -> None:
    budget = CacheBudget.per_user(2.5)
    budget.for_users(100)
    assert budget.limit == 250
    for name in "abc":
        budget.put(("dimension_users", name, None), name, 80)
    derived = budget.derived(lambda key: False)
    derived.for_users(64)  # 160 bytes: the least recently used entry goes
    assert derived.limit == 160 and [derived.get(("dimension_users", n, None)) for n in "abc"] == [None, "b", "c"]
    assert budget.get(("dimension_users", "a", None)) == "a"  # the source keeps its own
    emptied = derived.emptied()
    emptied.for_users(1000)
    assert emptied.limit == 2500 and emptied.get(("dimension_users", "b", None)) is None
    fixed = CacheBudget(300)
    fixed.for_users(10)
    assert fixed.limit == 300 and fixed.emptied().limit == 300
