"""Status reports what each read cache holds: nothing on a fresh engine, then the per-user value codes after a
profile (1 byte per user for a dimension of fewer than 255 values, 2 below 65,535)."""

from __future__ import annotations

import pathlib

from dolphin.engine import Engine


def test_cache_bytes_follow_the_caches(loaded_dir: pathlib.Path) -> None:
    engine = Engine(loaded_dir)
    assert set(engine.status().cache_bytes) == {"value_codes", "dimension_users", "numeric_unions",
                                                "numeric_figures", "event_unions"}
    assert not any(engine.status().cache_bytes.values())
    cities = next(d for d in engine.list_dimensions().dimensions if d.name == "city").value_count
    assert cities >= 32  # enough values for the bincount plan, which builds the codes
    engine.profile("gender=F", dimensions=["city"])
    users = len(engine.snapshot().ids)
    assert engine.status().cache_bytes["value_codes"] == (1 if cities < 255 else 2) * users  # a code per user
    engine.count("NOT city IN (Hangzhou)")  # a NOT over a dimension may build its users; never negative
    assert all(size >= 0 for size in engine.status().cache_bytes.values())
