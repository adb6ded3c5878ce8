"""open_export_async (the first page on the event loop, or on a worker when one window does not fill it) gives
the same first page as export_cursor, and the rest of the pages follow on."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dolphin.engine import Engine
from dolphin.engine.export import ExportCursor
from dolphin.query import Expr, format_expr
from tests.conftest import Oracle
from tests.strategies import brute_force, expressions

T = TypeVar("T")


async def offload(fn: Callable[[], T]) -> T:
    """The server's hop, as a test sees it: a worker thread of the default executor."""
    return await asyncio.get_running_loop().run_in_executor(None, fn)


def opened(engine: Engine, text: str, **options: Any) -> tuple[Any, Any]:
    """Return open_export_async's (cursor, first page), awaited on a loop of its own thread (a sync Playwright
    test earlier in the session may leave a loop running on this one)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(engine.open_export_async(text, offload, **options))).result()


def opened_ids(engine: Engine, text: str, page_size: int) -> tuple[int, list[str]]:
    """Return the total and every ID, the first page from open_export_async and the rest from its cursor."""
    cursor, page = opened(engine, text, page_size=page_size)
    ids = list(page.user_ids)
    while page.next_page_token:
        page = cursor.next_page()
        ids += page.user_ids
    return cursor.total, ids


@settings(max_examples=40)
@given(expressions(max_leaves=6), st.sampled_from([1, 7, 700]))
def test_open_export_equals_brute_force(engine: Engine, oracle: Oracle, expr: Expr, page_size: int) -> None:
    text = format_expr(expr)
    total, ids = opened_ids(engine, text, page_size)
    expected = brute_force(expr, oracle)
    assert total == len(expected) and len(ids) == len(set(ids)) and set(ids) == expected, text
    first = engine.export_cursor(text, page_size=page_size).next_page()
    assert ids[:page_size] == first.user_ids


@pytest.mark.parametrize("window", [16, 1 << 16])
def test_small_first_windows_finish_on_a_worker(engine: Engine, oracle: Oracle, monkeypatch: pytest.MonkeyPatch,
                                                window: int) -> None:
    """With 16-ID windows a page is not ready after one window: the worker path gives the same pages."""
    monkeypatch.setattr(ExportCursor, "MIN_WINDOW", window)
    monkeypatch.setattr(ExportCursor, "MAX_FIRST_WINDOW", window)
    text = "gender=F AND NOT vip=true"
    cursor = engine.export_cursor(text, page_size=500)
    assert isinstance(cursor, ExportCursor)
    assert cursor.page_ready() is (window > 16)
    total, ids = opened_ids(engine, text, 500)
    assert total == engine.count(text).count == len(ids)
    assert ids == [u for p in engine.export_pages(text, page_size=500) for u in p.user_ids]



@settings(max_examples=25)
@given(expressions(max_leaves=6), st.sampled_from([1, 50, 700]))
def test_token_resumed_pages_give_every_id_and_count_the_audience_once(
        engine: Engine, oracle: Oracle, expr: Expr, page_size: int) -> None:
    """Each page asked for with the previous page's token, as a client paging call by call: the token carries the
    audience's size, so only the first call counts it."""
    import dolphin.engine.engine as engine_module

    text = format_expr(expr)
    counts: list[int] = []

    def counted(node: Any, budget: Any) -> int:
        counts.append(1)
        return real_count(node, budget)

    real_count = engine_module.count
    engine_module.count = counted
    try:
        page = engine.export_cursor(text, page_size=page_size).next_page()
        ids, totals = list(page.user_ids), [page.total_count]
        while page.next_page_token:
            page = engine.export_cursor(text, page_size=page_size, page_token=page.next_page_token).next_page()
            ids += page.user_ids
            totals.append(page.total_count)
    finally:
        engine_module.count = real_count
    expected = brute_force(expr, oracle)
    assert set(ids) == expected and len(ids) == len(expected)
    assert set(totals) == {len(expected)} and len(counts) == 1
