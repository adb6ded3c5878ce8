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
from dataclasses import dataclass, field
from fractions import Fraction

import grpc
import numpy as np

from dolphin.cluster.channels import DEFAULT_TIMEOUT, ShardChannels, shard_error
from dolphin.engine.results import ExportPage
from dolphin.errors import InvalidPageTokenError, StalePageTokenError
from dolphin.storage import DimensionKind
from dolphin.storage.numbers import exact_value
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


def ordered_subject(subject: str, order: aud_pb.ExportOrder) -> str:
    """Return what an ordered export's token is bound to: the expression and the order."""
    return f"{subject}\x00order by {order.field} {'desc' if order.descending else 'asc'}"


def make_ordered_token(states: list[tuple[str, int, bool]], versions: list[int], subject: str) -> str:
    """Return a front token resuming an ordered export: per shard, its page token, the users of that page
    already taken, and whether it is done."""
    body = json.dumps([states, versions, _subject_hash(subject)], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(body + _mac(body)).decode().rstrip("=")


def read_ordered_token(token: str, versions: list[int], subject: str) -> list[tuple[str, int, bool]]:
    """Return the per-shard states of an ordered export's front token; raises when it was not issued for it."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise InvalidPageTokenError("it is not base64") from None
    body, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
    if len(raw) <= _MAC_BYTES or not hmac.compare_digest(mac, _mac(body)):
        raise InvalidPageTokenError("it was altered or not issued by this cluster")
    try:
        states, token_versions, subject_hash = json.loads(body)
    except ValueError:
        raise InvalidPageTokenError("it is not an ordered export's token") from None
    if token_versions != versions:
        raise StalePageTokenError(min(token_versions, default=0), min(versions, default=0))
    if subject_hash != _subject_hash(subject) or len(states) != len(versions):
        raise InvalidPageTokenError("it was issued for a different request")
    return [(str(t), int(n), bool(d)) for t, n, d in states]


@dataclass(slots=True)
class _ShardOrder:
    """One shard's ordered stream: its buffered page, the token that fetched it, and how much of it is taken."""

    page_token: str = ""
    taken: int = 0
    done: bool = False
    next_token: str = ""
    ids: list[object] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    values: list[Fraction | None] = field(default_factory=list)


class OrderedClusterExport:
    """An audience over shards ordered by a numeric field: a merge of every shard's own ordered export.

    Each shard pages its users in the field's order; the front takes the best head of all shards (ties go to
    the lower shard, then the shard's own order, which breaks ties by its dense IDs), users without a value
    last. The page token holds, per shard, the token of its current page and how much of it was taken.
    """

    def __init__(self, channels: ShardChannels, subject: str, page_size: int, totals: list[int],
                 versions: list[int], states: list[tuple[str, int, bool]], order: aud_pb.ExportOrder,
                 kind: DimensionKind, deadline: float | None, integers: bool = False) -> None:
        self.channels = channels
        self.encoding = aud_pb.ID_ENCODING_INT64 if integers else aud_pb.ID_ENCODING_TEXT
        self.subject = subject
        self.page_size = page_size
        self.versions = versions
        self.total = sum(totals)
        self.order = order
        self.kind = kind
        self.deadline = deadline
        self.shards = [_ShardOrder(t, n, d or not totals[k]) for k, (t, n, d) in enumerate(states)]
        for k, shard in enumerate(self.shards):
            if not shard.done:
                taken = shard.taken
                self._fetch(k, shard.page_token)
                del shard.ids[:taken], shard.texts[:taken], shard.values[:taken]
                shard.taken = taken
                if not shard.ids:  # the whole page was taken: resume from the next one
                    self._advance(k)

    def _fetch(self, k: int, token: str) -> None:
        """Buffer one page of shard k from token."""
        request = aud_pb.ExportRequest(expression=self.subject, page_size=self.page_size, page_token=token,
                                       max_pages=1, id_encoding=self.encoding, order_by=self.order)
        timeout = DEFAULT_TIMEOUT if self.deadline is None else max(0.001, self.deadline - time.monotonic())
        stream = self.channels.stubs(k).audiences.Export(request, timeout=timeout)
        try:
            page: aud_pb.ExportResponse = next(iter(stream))
        except grpc.RpcError as exc:
            raise shard_error(k, exc, timeout) from None
        finally:
            stream.cancel()
        shard = self.shards[k]
        shard.page_token, shard.taken, shard.next_token = token, 0, page.next_page_token
        shard.ids = list(page.int_user_ids) if self.encoding == aud_pb.ID_ENCODING_INT64 else list(page.user_ids)
        shard.texts = list(page.order_values)
        shard.values = [exact_value(self.kind, t) if t else None for t in shard.texts]
        shard.done = not shard.ids

    def _advance(self, k: int) -> None:
        """Buffer shard k's next page, or mark it done after its last."""
        shard = self.shards[k]
        if shard.next_token:
            self._fetch(k, shard.next_token)
        else:
            shard.done = True

    def _best(self) -> int | None:
        """Return the shard whose head comes first, or None when every shard is done."""
        best: int | None = None
        for k, shard in enumerate(self.shards):
            if shard.done:
                continue
            if best is None or self._before(shard.values[0], self.shards[best].values[0]):
                best = k
        return best

    def _before(self, a: Fraction | None, b: Fraction | None) -> bool:
        if a is None or b is None:
            return b is None and a is not None
        return a > b if self.order.descending else a < b

    def next_page(self) -> ExportPage:
        """Return the next page of the merged order; its token is empty on the last."""
        ids: list[object] = []
        texts: list[str] = []
        while len(ids) < self.page_size:
            k = self._best()
            if k is None:
                break
            shard = self.shards[k]
            ids.append(shard.ids.pop(0))
            texts.append(shard.texts.pop(0))
            shard.values.pop(0)
            shard.taken += 1
            if not shard.ids:
                self._advance(k)
        more = any(not s.done for s in self.shards)
        token = make_ordered_token([(s.page_token, s.taken, s.done) for s in self.shards], self.versions,
                                   ordered_subject(self.subject, self.order)) if more else ""
        if self.encoding == aud_pb.ID_ENCODING_INT64:
            return ExportPage([], token, min(self.versions, default=0), self.total,
                              np.array(ids, dtype=np.int64), texts)
        return ExportPage([str(i) for i in ids], token, min(self.versions, default=0), self.total, None, texts)
