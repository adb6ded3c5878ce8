"""Opaque page tokens: bound to a snapshot version and an expression, and signed against tampering."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from dataclasses import dataclass

from dolphin.errors import InvalidPageTokenError, StalePageTokenError

# version, built-at fingerprint, position, subject hash, then the audience's size; then a MAC over them. Tokens
# issued before the size was added (the first four fields only) are still read.
_TOKEN = struct.Struct("<Q8sQ8sQ")
_TOKEN_WITHOUT_TOTAL = struct.Struct("<Q8sQ8s")
_MAC_BYTES = 8
# The MAC guards integrity (a tampered token is refused before anything in it is trusted), not secrecy: a token
# only resumes an export the caller may run anyway. The key is fixed so that tokens verify in every worker
# process and after a restart.
_KEY = b"dolphin-page-token-v2"


def _fingerprint(built_at: float) -> bytes:
    """Tell apart two snapshots that got the same version number (a data dir rebuilt from scratch)."""
    return hashlib.blake2b(repr(built_at).encode(), digest_size=8).digest()


def _subject_hash(subject: str) -> bytes:
    return hashlib.blake2b(subject.encode(), digest_size=8).digest()


def _mac(body: bytes) -> bytes:
    return hmac.new(_KEY, body, "sha256").digest()[:_MAC_BYTES]


@dataclass(frozen=True, slots=True)
class Resume:
    """Where a page token resumes, and the audience's size when the token carries it."""

    position: int
    total: int | None = None  # the whole audience's users: a resumed export need not count it again


def make_token(version: int, built_at: float, subject: str, position: int, total: int) -> str:
    """Return a token that resumes `subject` (an expression) at `position`, for an audience of `total` users."""
    body = _TOKEN.pack(version, _fingerprint(built_at), position, _subject_hash(subject), total)
    return base64.urlsafe_b64encode(body + _mac(body)).decode().rstrip("=")


def read_token(token: str, version: int, built_at: float, subject: str) -> Resume:
    """Return where a token resumes; raises when it was not issued for this request.

    The signature is checked before anything the token says is used: a tampered token is invalid
    (INVALID_ARGUMENT), never "from another snapshot".
    """
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise InvalidPageTokenError("it is not base64") from None
    layout = next((t for t in (_TOKEN, _TOKEN_WITHOUT_TOTAL) if len(raw) == t.size + _MAC_BYTES), None)
    if layout is None:
        raise InvalidPageTokenError("it has the wrong length")
    body, mac = raw[: layout.size], raw[layout.size :]
    if not hmac.compare_digest(mac, _mac(body)):
        raise InvalidPageTokenError("it was altered or not issued by this server")
    token_version, fingerprint, position, subject_hash, *total = layout.unpack(body)
    if (token_version, fingerprint) != (version, _fingerprint(built_at)):
        raise StalePageTokenError(token_version, version)
    if subject_hash != _subject_hash(subject):
        raise InvalidPageTokenError("it was issued for a different request")
    return Resume(int(position), int(total[0]) if total else None)
