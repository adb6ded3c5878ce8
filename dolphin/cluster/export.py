"""Exports over shards: shard 0's users in its dense-ID order, then shard 1's, and so on.

A page takes IDs from the current shard and, when that shard runs out, from the next ones, so pages are full
until the last. The page token holds the shard, that shard's own token (signed by it and bound to its version)
and every shard's snapshot version when the export started; the front signs the whole, so a token resumes
only the export it came from, on the versions it came from (else FAILED_PRECONDITION: restart the export).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time

import grpc
import numpy as np

from dolphin.cluster.channels import DEFAULT_TIMEOUT, ShardChannels, shard_error
from dolphin.engine.results import ExportPage
from dolphin.errors import InvalidPageTokenError, StalePageTokenError
from dolphin.v1 import audience_service_pb2 as aud_pb

_KEY = b"dolphin-cluster-page-token-v1"  # integrity, not secrecy (as for a single node's tokens)
_MAC_BYTES = 8


def _subject_hash(subject: str) -> str:
    return hashlib.blake2b(subject.encode(), digest_size=8).hexdigest()


def _mac(body: bytes) -> bytes:
    return hmac.new(_KEY, body, "sha256").digest()[:_MAC_BYTES]


def make_token(shard: int, shard_token: str, versions: list[int], subject: str) -> str:
    """Return a front token resuming `subject` at shard `shard` from that shard's token."""
    body = json.dumps([shard, shard_token, versions, _subject_hash(subject)], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(body + _mac(body)).decode().rstrip("=")


def read_token(token: str, versions: list[int], subject: str) -> tuple[int, str]:
    """Return (shard, shard token) of a front token; raises when it was not issued for this export."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise InvalidPageTokenError("it is not base64") from None
    body, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
    if len(raw) <= _MAC_BYTES or not hmac.compare_digest(mac, _mac(body)):
        raise InvalidPageTokenError("it was altered or not issued by this cluster")
    shard, shard_token, token_versions, subject_hash = json.loads(body)
    if token_versions != versions:
        changed = next(i for i, (a, b) in enumerate(zip(token_versions, versions, strict=False)) if a != b) \
            if len(token_versions) == len(versions) else 0
        raise StalePageTokenError(token_versions[changed] if token_versions else 0, versions[changed])
    if subject_hash != _subject_hash(subject):
        raise InvalidPageTokenError("it was issued for a different request")
    return int(shard), str(shard_token)


class ClusterExport:
    """An audience over shards, paged; `total` is the users on every shard."""

    def __init__(self, channels: ShardChannels, subject: str, page_size: int, totals: list[int],
                 versions: list[int], shard: int, shard_token: str, deadline: float | None,
                 integers: bool = False) -> None:
        self.channels = channels
        self.encoding = aud_pb.ID_ENCODING_INT64 if integers else aud_pb.ID_ENCODING_TEXT
        self.subject = subject
        self.page_size = page_size
        self.totals = totals
        self.versions = versions
        self.total = sum(totals)
        self.shard = self._skip_empty(shard) if not shard_token else shard
        self.shard_token = shard_token
        self.deadline = deadline

    def _skip_empty(self, shard: int) -> int:
        while shard < len(self.totals) and not self.totals[shard]:
            shard += 1
        return shard

    def _shard_page(self, size: int) -> aud_pb.ExportResponse:
        """Return one page of the current shard from its token."""
        request = aud_pb.ExportRequest(expression=self.subject, page_size=size, page_token=self.shard_token,
                                       max_pages=1, id_encoding=self.encoding)
        # the call's deadline bounds the first page; later pages come at the client's pace, each bounded alone
        timeout = DEFAULT_TIMEOUT if self.deadline is None else max(0.001, self.deadline - time.monotonic())
        self.deadline = None
        stream = self.channels.stubs(self.shard).audiences.Export(request, timeout=timeout)
        try:
            page: aud_pb.ExportResponse = next(iter(stream))
            return page
        except grpc.RpcError as exc:
            raise shard_error(self.shard, exc, timeout) from None
        finally:
            stream.cancel()

    def next_page(self) -> ExportPage:
        """Return the next page; its token is empty on the last."""
        ids: list[str] = []
        numbers: list[np.ndarray] = []
        have = 0
        while have < self.page_size and self.shard < len(self.totals):
            page = self._shard_page(self.page_size - have)
            if self.encoding == aud_pb.ID_ENCODING_INT64:
                numbers.append(np.array(page.int_user_ids, dtype=np.int64))  # a copy of the packed field
                have += len(numbers[-1])
            else:
                ids.extend(page.user_ids)
                have = len(ids)
            if page.next_page_token:
                self.shard_token = page.next_page_token
            else:
                self.shard, self.shard_token = self._skip_empty(self.shard + 1), ""
        token = make_token(self.shard, self.shard_token, self.versions, self.subject) \
            if self.shard < len(self.totals) else ""
        integers = (np.concatenate(numbers) if numbers else np.empty(0, dtype=np.int64)) \
            if self.encoding == aud_pb.ID_ENCODING_INT64 else None
        return ExportPage(ids, token, min(self.versions, default=0), self.total, integers)
