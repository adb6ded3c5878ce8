"""Page tokens: the signature is checked before the version, so a tampered token is invalid, never stale."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dolphin.engine.paging import make_token, read_token
from dolphin.errors import InvalidPageTokenError, StalePageTokenError

VERSION, BUILT = 6, 1764633600.25


def _altered(token: str, index: int, xor: int) -> str:
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[index % len(raw)] ^= xor
    return base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")


@given(st.integers(0, 2**32 - 1), st.integers(0, 10_000), st.integers(1, 255))
def test_any_altered_byte_is_invalid_not_stale(position: int, index: int, xor: int) -> None:
    token = make_token(VERSION, BUILT, "gender=F", position)
    assert read_token(token, VERSION, BUILT, "gender=F") == position
    with pytest.raises(InvalidPageTokenError, match="altered or not issued by this server"):
        read_token(_altered(token, index, xor), VERSION, BUILT, "gender=F")


def test_first_text_character_altered_is_invalid() -> None:
    token = make_token(VERSION, BUILT, "ALL", 100)
    tampered = ("B" if token[0] != "B" else "C") + token[1:]
    with pytest.raises(InvalidPageTokenError):
        read_token(tampered, VERSION, BUILT, "ALL")


def test_stale_and_foreign_tokens() -> None:
    token = make_token(VERSION, BUILT, "ALL", 100)
    with pytest.raises(StalePageTokenError, match="page token is from snapshot 6; current is 7"):
        read_token(token, VERSION + 1, BUILT + 1, "ALL")
    with pytest.raises(StalePageTokenError):  # same number, rebuilt data dir
        read_token(token, VERSION, BUILT + 1, "ALL")
    with pytest.raises(InvalidPageTokenError, match="different request"):
        read_token(token, VERSION, BUILT, "gender=F")
    for garbage, reason in [("garbage!", "not base64"), ("abcd", "wrong length")]:
        with pytest.raises(InvalidPageTokenError, match=reason):
            read_token(garbage, VERSION, BUILT, "ALL")
