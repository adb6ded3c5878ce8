"""Export's two ID encodings: the int64 pages hold exactly the text pages' IDs, in the same order, with the same
tokens; the hand-built packed field is byte for byte what protobuf itself writes. ExportPage, page by page, gives
the stream's pages and tokens."""

from __future__ import annotations

import pathlib

import grpc
import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dolphin.client import Client
from dolphin.engine import Engine
from dolphin.engine.results import ExportPage
from dolphin.errors import InvalidArgumentError, InvalidPageTokenError, PreconditionError, QuerySyntaxError
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


@given(st.lists(st.integers(-(2**63), 2**63 - 1), max_size=300), st.text(max_size=40),
       st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1))
def test_the_unary_page_is_what_protobuf_writes(ids: list[int], token: str, version: int, total: int) -> None:
    built = convert.export_page_response(ExportPage([], token, version, total, np.array(ids, dtype=np.int64)))
    want = pb.ExportPageResponse(int_user_ids=ids, next_page_token=token, snapshot_version=version,
                                 total_count=total)
    assert built == want
    assert built.SerializeToString(deterministic=True) == want.SerializeToString(deterministic=True)


def test_a_unary_page_has_the_stream_messages_fields() -> None:
    page, stream = pb.ExportPageResponse.DESCRIPTOR, pb.ExportResponse.DESCRIPTOR
    assert all(stream.fields_by_name[f.name].number == f.number and stream.fields_by_name[f.name].type == f.type
               for f in page.fields)


@pytest.mark.parametrize("expression", EXPRESSIONS)
@pytest.mark.parametrize(("page_size", "integers"), [(1, False), (333, True), (10000, False)])
def test_unary_pages_walk_the_stream(client: Client, oracle: Oracle, expression: str, page_size: int,
                                     integers: bool) -> None:
    encoding = pb.ID_ENCODING_INT64 if integers else pb.ID_ENCODING_TEXT
    stream = list(client.export_pages(expression, page_size=page_size, max_pages=4, id_encoding=encoding))
    token, pages = "", []
    for _ in stream:
        pages.append(client.export_page(expression, page_size=page_size, page_token=token, integers=integers))
        token = pages[-1].next_page_token
    assert [pb.ExportResponse.FromString(p.SerializeToString()) for p in pages] == stream
    walked: list[str] = []
    token = ""
    while True:  # to the end, by the unary call alone
        page = client.export_page(expression, page_size=max(page_size, 500), page_token=token, integers=integers)
        walked += [str(u) for u in page.int_user_ids] if integers else list(page.user_ids)
        token = page.next_page_token
        if not token:
            break
    assert len(walked) == len(set(walked)) == page.total_count
    if expression == "ALL":
        assert set(walked) == oracle.population


def test_tokens_cross_between_the_stream_and_the_unary_call(client: Client) -> None:
    unary = client.export_page("gender=F", page_size=50)
    streamed = next(client.export_pages("gender=F", page_size=50, page_token=unary.next_page_token))
    again = client.export_page("gender=F", page_size=50, page_token=unary.next_page_token)
    assert list(again.user_ids) == list(streamed.user_ids) and again.next_page_token == streamed.next_page_token
    assert not set(unary.user_ids) & set(again.user_ids)


def test_a_bad_unary_page_request_is_refused(client: Client) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        client.audiences.ExportPage(pb.ExportPageRequest(expression="ALL", id_encoding=9))  # type: ignore[arg-type]
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "id_encoding 9 is not one of" in raised.value.details()
    with pytest.raises(InvalidPageTokenError):
        client.export_page("ALL", page_token="not-a-token")
    other = client.export_page("gender=F", page_size=10).next_page_token
    with pytest.raises(InvalidPageTokenError):
        client.export_page("gender=M", page_size=10, page_token=other)  # bound to its expression
    with pytest.raises(QuerySyntaxError):
        client.export_page("gender=F AND (")
