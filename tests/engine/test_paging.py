"""Page tokens: the signature is checked before the version, so a tampered token is invalid, never stale; a token
carries the audience's size, so a resumed export does not count it again."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dolphin.engine import paging
from dolphin.engine.paging import Resume, make_token, read_token
from dolphin.errors import InvalidPageTokenError, StalePageTokenError

VERSION, BUILT = 6, 1764633600.25


def _altered(token: str, index: int, xor: int) -> str:
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[index % len(raw)] ^= xor
    return base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")


@given(st.integers(0, 2**32 - 1), st.integers(0, 10_000), st.integers(1, 255), st.integers(0, 2**32 - 1))
def test_any_altered_byte_is_invalid_not_stale(position: int, index: int, xor: int, total: int) -> None:
    token = make_token(VERSION, BUILT, "gender=F", position, total)
    assert read_token(token, VERSION, BUILT, "gender=F") == Resume(position, total)
    with pytest.raises(InvalidPageTokenError, match="altered or not issued by this server"):
        read_token(_altered(token, index, xor), VERSION, BUILT, "gender=F")


def test_first_text_character_altered_is_invalid() -> None:
    token = make_token(VERSION, BUILT, "ALL", 100, 500)
    tampered = ("B" if token[0] != "B" else "C") + token[1:]
    with pytest.raises(InvalidPageTokenError):
        read_token(tampered, VERSION, BUILT, "ALL")


def test_stale_and_foreign_tokens() -> None:
    token = make_token(VERSION, BUILT, "ALL", 100, 500)
    with pytest.raises(StalePageTokenError, match="page token is from snapshot 6; current is 7"):
        read_token(token, VERSION + 1, BUILT + 1, "ALL")
    with pytest.raises(StalePageTokenError):  # same number, rebuilt data dir
        read_token(token, VERSION, BUILT + 1, "ALL")
    with pytest.raises(InvalidPageTokenError, match="different request"):
        read_token(token, VERSION, BUILT, "gender=F")
    for garbage, reason in [("garbage!", "not base64"), ("abcd", "wrong length")]:
        with pytest.raises(InvalidPageTokenError, match=reason):
            read_token(garbage, VERSION, BUILT, "ALL")


def test_a_token_issued_before_it_carried_the_size_still_resumes() -> None:
    body = paging._TOKEN_WITHOUT_TOTAL.pack(VERSION, paging._fingerprint(BUILT), 100, paging._subject_hash("ALL"))
    token = base64.urlsafe_b64encode(body + paging._mac(body)).decode().rstrip("=")
    assert read_token(token, VERSION, BUILT, "ALL") == Resume(100, None)  # the export counts the audience again
