"""Opaque page tokens: bound to a snapshot version and an expression, and signed against tampering."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct

from dolphin.errors import InvalidPageTokenError, StalePageTokenError

_TOKEN = struct.Struct("<QQ8s")
_MAC_BYTES = 8


def _key(version: int, built_at: float) -> bytes:
    return hashlib.sha256(f"dolphin-page-token:{version}:{built_at!r}".encode()).digest()


def _subject_hash(subject: str) -> bytes:
    return hashlib.blake2b(subject.encode(), digest_size=8).digest()


def make_token(version: int, built_at: float, subject: str, position: int) -> str:
    """Return a token that resumes `subject` (an expression) at dense ID `position`."""
    body = _TOKEN.pack(version, position, _subject_hash(subject))
    mac = hmac.new(_key(version, built_at), body, "sha256").digest()[:_MAC_BYTES]
    return base64.urlsafe_b64encode(body + mac).decode().rstrip("=")


def read_token(token: str, version: int, built_at: float, subject: str) -> int:
    """Return the position a token resumes at; raises when it was not issued for this request."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise InvalidPageTokenError("it is not base64") from None
    if len(raw) != _TOKEN.size + _MAC_BYTES:
        raise InvalidPageTokenError("it has the wrong length")
    body, mac = raw[: _TOKEN.size], raw[_TOKEN.size :]
    token_version, position, subject_hash = _TOKEN.unpack(body)
    if token_version != version:
        raise StalePageTokenError(token_version, version)
    expected = hmac.new(_key(version, built_at), body, "sha256").digest()[:_MAC_BYTES]
    if not hmac.compare_digest(mac, expected):
        raise InvalidPageTokenError("it was altered or not issued by this server")
    if subject_hash != _subject_hash(subject):
        raise InvalidPageTokenError("it was issued for a different request")
    return int(position)
