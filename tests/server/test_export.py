"""Export's two ID encodings: the int64 pages hold exactly the text pages' IDs, in the same order, with the same
tokens; the hand-built packed field is byte for byte what protobuf itself writes."""

from __future__ import annotations

import pathlib

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dolphin.client import Client
from dolphin.engine import Engine
from dolphin.engine.results import ExportPage
from dolphin.errors import InvalidArgumentError, PreconditionError
from dolphin.server import convert
from dolphin.v1 import audience_service_pb2 as pb
from loaders.tags import load_tags
from tests.conftest import Oracle

EXPRESSIONS = ["gender=F AND NOT vip=true", "ALL", "city=Hangzhou OR interest=tennis"]


@pytest.mark.parametrize("expression", EXPRESSIONS)
@pytest.mark.parametrize("page_size", [1, 333, 10000])
def test_int64_pages_equal_text_pages(client: Client, oracle: Oracle, expression: str, page_size: int) -> None:
    text = list(client.export_pages(expression, page_size=page_size, max_pages=5))
    ints = list(client.export_pages(expression, page_size=page_size, max_pages=5,
                                    id_encoding=pb.ID_ENCODING_INT64))
    assert [p.next_page_token for p in ints] == [p.next_page_token for p in text]
    assert [p.total_count for p in ints] == [p.total_count for p in text]
    for t, i in zip(text, ints, strict=True):
        assert not i.user_ids and list(i.int_user_ids) == [int(u) for u in t.user_ids]
    whole = np.concatenate(list(client.export_integers(expression, page_size=page_size)))
    assert len(whole) == text[0].total_count and len(set(whole.tolist())) == len(whole)
    if expression == "ALL":
        assert {str(u) for u in whole.tolist()} == oracle.population


def test_a_text_token_resumes_an_int64_export(client: Client) -> None:
    first = next(client.export_pages("ALL", page_size=100))
    rest = np.concatenate(list(client.export_integers("ALL", page_size=100, page_token=first.next_page_token)))
    want = [int(u) for p in client.export_pages("ALL", page_size=100, page_token=first.next_page_token)
            for u in p.user_ids]
    assert rest.tolist() == want


def test_an_unknown_encoding_is_refused(client: Client) -> None:
    with pytest.raises(InvalidArgumentError, match="id_encoding 7 is not one of"):
        next(client.export_pages("ALL", id_encoding=7))  # type: ignore[arg-type]


def test_string_ids_have_no_int64_form(tmp_path: pathlib.Path) -> None:
    pl.DataFrame({"user_id": ["a", "b"], "city": ["x", "y"]}).write_parquet(tmp_path / "u.parquet")
    load_tags([str(tmp_path / "u.parquet")], tmp_path / "data", shard_bits=6)
    engine = Engine(tmp_path / "data")
    with pytest.raises(PreconditionError, match="user IDs are strings"):
        engine.export_cursor("ALL", integers=True)
    assert sorted(engine.export_cursor("ALL").next_page().user_ids) == ["a", "b"]


@given(st.lists(st.integers(-(2**63), 2**63 - 1), max_size=300), st.text(max_size=40),
       st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1))
def test_the_packed_field_is_what_protobuf_writes(ids: list[int], token: str, version: int, total: int) -> None:
    page = ExportPage([], token, version, total, np.array(ids, dtype=np.int64))
    built = convert.export_page(page)
    want = pb.ExportResponse(int_user_ids=ids, next_page_token=token, snapshot_version=version, total_count=total)
    assert built == want
    assert built.SerializeToString(deterministic=True) == want.SerializeToString(deterministic=True)
