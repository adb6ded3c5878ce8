"""dolphin.Client: a synchronous Python client for Dolphin's gRPC API.

Imports only grpc, the generated stubs and dolphin.errors, so apps that only query stay light.
Every call has a deadline; read-only calls are retried on UNAVAILABLE; errors come back as the same
DolphinError subclasses the engine raises in-process.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import grpc

from dolphin import errors
from dolphin.v1 import adeffect_service_pb2 as ad_pb
from dolphin.v1 import adeffect_service_pb2_grpc as ad_grpc
from dolphin.v1 import admin_service_pb2 as admin_pb
from dolphin.v1 import admin_service_pb2_grpc as admin_grpc
from dolphin.v1 import audience_service_pb2 as aud_pb
from dolphin.v1 import audience_service_pb2_grpc as aud_grpc
from dolphin.v1 import catalog_service_pb2 as cat_pb
from dolphin.v1 import catalog_service_pb2_grpc as cat_grpc
from dolphin.v1 import ingest_service_pb2 as ing_pb
from dolphin.v1 import ingest_service_pb2_grpc as ing_grpc
from dolphin.v1 import lookalike_service_pb2 as look_pb
from dolphin.v1 import lookalike_service_pb2_grpc as look_grpc

T = TypeVar("T")
ERROR_METADATA_KEY = "dolphin-error"
DETAILS_METADATA_KEY = "dolphin-error-details"
# derived from the server's one table; used when a status does not name its error class (a proxy, an older server)
CODE_ERRORS: dict[grpc.StatusCode, type[errors.DolphinError]] = {
    grpc.StatusCode[name]: cls for name, cls in errors.fallback_classes().items()}


BITMAP_FORMATS = {"roaring": aud_pb.EXPORT_FORMAT_ROARING_PORTABLE,
                  "clickhouse": aud_pb.EXPORT_FORMAT_CLICKHOUSE_GROUP_BITMAP,
                  "doris": aud_pb.EXPORT_FORMAT_DORIS_BITMAP}


def export_format_of(name: str) -> aud_pb.ExportFormat:
    """Return the ExportFormat of a bitmap format name (roaring, clickhouse, doris), or ValueError."""
    if name not in BITMAP_FORMATS:
        raise ValueError(f'bitmap format "{name}" is not one of {", ".join(BITMAP_FORMATS)}')
    return BITMAP_FORMATS[name]


def _pem(value: str | bytes | None) -> bytes | None:
    """Return PEM bytes from bytes or from a file path."""
    if value is None or isinstance(value, bytes):
        return value
    with open(value, "rb") as fh:
        return fh.read()


class ServerError(errors.DolphinError):
    """An error the server reported without a Dolphin error type (INTERNAL, UNKNOWN, transport errors)."""

    def __init__(self, message: str, code: grpc.StatusCode | None = None) -> None:
        super().__init__(message)
        self.code = code


def to_dolphin_error(exc: grpc.RpcError) -> errors.DolphinError:
    """Return the DolphinError an RpcError stands for (the server names the class in trailing metadata)."""
    code = exc.code() if hasattr(exc, "code") else None
    details = (exc.details() if hasattr(exc, "details") else None) or str(exc)
    trailing = dict(exc.trailing_metadata() or ()) if hasattr(exc, "trailing_metadata") else {}
    cls = getattr(errors, str(trailing.get(ERROR_METADATA_KEY, "")), None)
    if isinstance(cls, type) and issubclass(cls, errors.DolphinError):
        return cls.from_message(details, _error_details(trailing.get(DETAILS_METADATA_KEY)))
    if code in CODE_ERRORS and code is not grpc.StatusCode.UNAVAILABLE:
        return CODE_ERRORS[code].from_message(details)
    return ServerError(f"{code.name if code else 'error'}: {details}", code)


def _error_details(raw: object) -> dict[str, str]:
    """Return the details an error status carried (empty when absent or unreadable)."""
    try:
        value = json.loads(str(raw)) if raw else {}
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


class Client:
    """Talks to one Dolphin server: `with Client("localhost:50051") as c: c.count("gender=F")`."""

    def __init__(
        self,
        target: str = "localhost:50051",
        *,
        timeout: float = 10.0,
        retries: int = 2,
        token: str | None = None,
        tls_ca: str | bytes | None = None,
        tls_cert: str | bytes | None = None,
        tls_key: str | bytes | None = None,
    ) -> None:
        """Connect to target; TLS when tls_ca is given (PEM bytes or a file path), mTLS with tls_cert/tls_key."""
        self.target = target
        self.timeout = timeout
        self.retries = retries
        self._metadata = (("authorization", f"Bearer {token}"),) if token else None
        options = [("grpc.max_receive_message_length", 16 << 20)]
        if tls_ca is None:
            self.channel = grpc.insecure_channel(target, options=options)
        else:
            credentials = grpc.ssl_channel_credentials(
                root_certificates=_pem(tls_ca), private_key=_pem(tls_key), certificate_chain=_pem(tls_cert))
            self.channel = grpc.secure_channel(target, credentials, options=options)
        self.audiences = aud_grpc.AudienceServiceStub(self.channel)
        self.catalog = cat_grpc.CatalogServiceStub(self.channel)
        self.admin = admin_grpc.AdminServiceStub(self.channel)
        self.lookalikes = look_grpc.LookalikeServiceStub(self.channel)
        self.adeffect = ad_grpc.AdEffectServiceStub(self.channel)
        self.ingest = ing_grpc.IngestServiceStub(self.channel)

    @staticmethod
    def from_env(target: str | None = None, *, timeout: float = 10.0) -> Client:
        """Return a client configured by $DOLPHIN_TARGET, $DOLPHIN_TOKEN and $DOLPHIN_TLS_CA/_CERT/_KEY."""
        env = os.environ
        return Client(target or env.get("DOLPHIN_TARGET", "localhost:50051"), timeout=timeout,
                      token=env.get("DOLPHIN_TOKEN") or None, tls_ca=env.get("DOLPHIN_TLS_CA") or None,
                      tls_cert=env.get("DOLPHIN_TLS_CERT") or None, tls_key=env.get("DOLPHIN_TLS_KEY") or None)

    def __repr__(self) -> str:
        return f"Client({self.target!r}, timeout={self.timeout})"

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the channel."""
        self.channel.close()

    def _call(self, method: Callable[..., T], request: Any, *, timeout: float | None, idempotent: bool) -> T:
        attempts = self.retries + 1 if idempotent else 1
        for attempt in range(attempts):
            try:
                return method(request, timeout=timeout or self.timeout, metadata=self._metadata)
            except grpc.RpcError as exc:
                retry = exc.code() is grpc.StatusCode.UNAVAILABLE and attempt + 1 < attempts
                if not retry:
                    raise to_dolphin_error(exc) from None
                time.sleep(0.05 * 2**attempt)
        raise AssertionError("unreachable")

    # -- audiences ---------------------------------------------------------
    def count(self, expression: str, *, timeout: float | None = None) -> int:
        """Return the number of users matching an expression."""
        return self._call(self.audiences.Count, aud_pb.CountRequest(expression=expression),
                          timeout=timeout, idempotent=True).count

    def batch_count(self, expressions: list[str], *, timeout: float | None = None) -> list[int]:
        """Return the counts of many expressions, on one snapshot version."""
        response = self._call(self.audiences.BatchCount, aud_pb.BatchCountRequest(expressions=expressions),
                              timeout=timeout, idempotent=True)
        return list(response.counts)

    def export_pages(
        self, expression: str, *, page_size: int = 0, page_token: str = "", max_pages: int = 0,
        timeout: float | None = None, id_encoding: aud_pb.IdEncoding = aud_pb.ID_ENCODING_UNSPECIFIED,
        order_by: str = "", descending: bool = False,
    ) -> Iterator[aud_pb.ExportResponse]:
        """Yield pages of external IDs; each page's next_page_token resumes after it.

        order_by orders them by a numeric field (users without a value last); each page's order_values then
        holds the users' values.
        """
        request = aud_pb.ExportRequest(expression=expression, page_size=page_size, page_token=page_token,
                                       max_pages=max_pages, id_encoding=id_encoding,
                                       order_by=aud_pb.ExportOrder(field=order_by, descending=descending))
        try:
            yield from self.audiences.Export(request, timeout=timeout or self.timeout, metadata=self._metadata)
        except grpc.RpcError as exc:
            raise to_dolphin_error(exc) from None

    def export_page(
        self, expression: str, *, page_size: int = 0, page_token: str = "", integers: bool = False,
        order_by: str = "", descending: bool = False, timeout: float | None = None,
    ) -> aud_pb.ExportPageResponse:
        """Return one page of an audience's external IDs in one unary call (ExportPage); its next_page_token
        resumes after it. integers puts them in int_user_ids, packed (`numpy.asarray(page.int_user_ids)`)."""
        request = aud_pb.ExportPageRequest(
            expression=expression, page_size=page_size, page_token=page_token,
            id_encoding=aud_pb.ID_ENCODING_INT64 if integers else aud_pb.ID_ENCODING_TEXT,
            order_by=aud_pb.ExportOrder(field=order_by, descending=descending))
        return self._call(self.audiences.ExportPage, request, timeout=timeout, idempotent=True)

    def export(self, expression: str, *, page_size: int = 0, timeout: float | None = None, order_by: str = "",
               descending: bool = False) -> Iterator[str]:
        """Yield every external user ID of an audience, in a stable order (or by a numeric field, order_by)."""
        for page in self.export_pages(expression, page_size=page_size, timeout=timeout, order_by=order_by,
                                      descending=descending):
            yield from page.user_ids

    def export_integers(self, expression: str, *, page_size: int = 0, page_token: str = "", max_pages: int = 0,
                        timeout: float | None = None) -> Iterator[Sequence[int]]:
        """Yield an audience's integer external IDs one page at a time, in the order of export().

        The fast form for integer IDs: each page is the message's packed field as it arrived, with no Python
        object per ID; `numpy.asarray(page)` makes it an int64 array in microseconds. FAILED_PRECONDITION for
        string IDs.
        """
        for page in self.export_pages(expression, page_size=page_size, page_token=page_token, max_pages=max_pages,
                                      timeout=timeout, id_encoding=aud_pb.ID_ENCODING_INT64):
            yield page.int_user_ids

    def export_values(self, expression: str, field: str, *, integer_ids: bool = False, page_size: int = 0,
                      timeout: float | None = None) -> Iterator[tuple[Sequence[int] | Sequence[str], Sequence[str]]]:
        """Yield (user IDs, values of a numeric field) pages of an audience, ordered by the field (users without a
        value last, with empty text); integer_ids sends the IDs as packed int64."""
        encoding = aud_pb.ID_ENCODING_INT64 if integer_ids else aud_pb.ID_ENCODING_TEXT
        for page in self.export_pages(expression, page_size=page_size, timeout=timeout, id_encoding=encoding,
                                      order_by=field):
            yield (page.int_user_ids if integer_ids else page.user_ids), page.order_values

    def export_bitmap_chunks(self, expression: str, format: str = "roaring", *, bitmap_64: bool = False,
                             timeout: float | None = None) -> Iterator[aud_pb.ExportResponse]:
        """Yield the chunks of an audience exported as one bitmap of its external IDs (see export_bitmap); each
        carries bitmap_bytes (the whole size) and total_count, for progress."""
        request = aud_pb.ExportRequest(expression=expression, format=export_format_of(format), bitmap_64=bitmap_64)
        try:
            yield from self.audiences.Export(request, timeout=timeout or self.timeout, metadata=self._metadata)
        except grpc.RpcError as exc:
            raise to_dolphin_error(exc) from None

    def export_bitmap(self, expression: str, format: str = "roaring", *, bitmap_64: bool = False,
                      timeout: float | None = None) -> bytes:
        """Return an audience as one bitmap of its external integer IDs.

        format: "roaring" (portable RoaringFormatSpec), "clickhouse" (a groupBitmap state: UInt32, or UInt64 when
        an ID needs it or bitmap_64) or "doris" (Doris/StarRocks BITMAP binary). FAILED_PRECONDITION for string
        or negative IDs.
        """
        return b"".join(c.bitmap_chunk for c in self.export_bitmap_chunks(expression, format, bitmap_64=bitmap_64,
                                                                           timeout=timeout))

    def profile(
        self, expression: str, *, dimensions: list[str] | None = None, top_k: int = 0,
        numeric_cuts: dict[str, list[str]] | None = None, timeout: float | None = None
    ) -> aud_pb.ProfileResponse:
        """Return the TGI profile of an audience (numeric fields bucketed at numeric_cuts, or deciles)."""
        request = aud_pb.ProfileRequest(expression=expression, dimensions=dimensions or [], top_k=top_k,
                                        numeric_cuts=[aud_pb.FieldCuts(field=f, points=p)
                                                      for f, p in (numeric_cuts or {}).items()])
        return self._call(self.audiences.Profile, request, timeout=timeout, idempotent=True)

    def aggregate(
        self, expression: str, fields: list[str], *, percentiles: list[float] | None = None,
        cut_points: list[str] | None = None, statistics: list[str] | None = None, timeout: float | None = None,
    ) -> aud_pb.AggregateResponse:
        """Return count, sum, mean, min, max, stddev, exact percentiles and a histogram of numeric fields over an
        audience (statistics: names such as "sum", "mean"; empty means all)."""
        request = aud_pb.AggregateRequest(
            expression=expression, fields=fields, percentiles=percentiles or [], cut_points=cut_points or [],
            statistics=[aud_pb.Statistic.Value(f"STATISTIC_{s.upper()}") for s in statistics or []])
        return self._call(self.audiences.Aggregate, request, timeout=timeout, idempotent=True)

    def overlap(self, expressions: list[str], *, timeout: float | None = None) -> aud_pb.OverlapResponse:
        """Return sizes and pairwise intersections of several audiences."""
        return self._call(self.audiences.Overlap, aud_pb.OverlapRequest(expressions=expressions),
                          timeout=timeout, idempotent=True)

    def explain(self, expression: str, *, timeout: float | None = None) -> aud_pb.ExplainResponse:
        """Return the evaluated plan of an expression."""
        return self._call(self.audiences.Explain, aud_pb.ExplainRequest(expression=expression),
                          timeout=timeout, idempotent=True)

    def save_audience(self, name: str, expression: str = "", *, overwrite: bool = False, bitmap: bytes | None = None,
                      bitmap_format: str = "roaring") -> aud_pb.Audience:
        """Save an expression's users as @name, or a bitmap of external integer IDs (bitmap, in bitmap_format:
        "roaring", "clickhouse" or "doris"); the answer's unknown_ids counts the bitmap's IDs no user has."""
        request = aud_pb.SaveAudienceRequest(name=name, expression=expression, overwrite=overwrite)
        if bitmap is not None:
            request.bitmap = bitmap
            request.bitmap_format = export_format_of(bitmap_format)
        return self._call(self.audiences.SaveAudience, request, timeout=None, idempotent=False)

    def get_audience(self, name: str) -> aud_pb.Audience:
        """Return a saved audience."""
        return self._call(self.audiences.GetAudience, aud_pb.GetAudienceRequest(name=name),
                          timeout=None, idempotent=True)

    def _pages(self, method: Callable[..., Any], make_request: Callable[[str], Any], items: str) -> Iterator[Any]:
        """Yield the items of every page of a paged listing, following next_page_token."""
        token = ""
        while True:
            page = self._call(method, make_request(token), timeout=None, idempotent=True)
            yield from getattr(page, items)
            token = page.next_page_token
            if not token:
                return

    def list_audiences(self) -> Iterator[aud_pb.Audience]:
        """Yield every saved audience, by name."""
        return self._pages(self.audiences.ListAudiences, lambda t: aud_pb.ListAudiencesRequest(page_token=t),
                           "audiences")

    def delete_audience(self, name: str) -> None:
        """Delete a saved audience."""
        self._call(self.audiences.DeleteAudience, aud_pb.DeleteAudienceRequest(name=name),
                   timeout=None, idempotent=False)

    def lookalike(
        self, seed_expression: str, *, candidate_expression: str = "", k: int = 1000, exclude_seed: bool = True,
        method: str = "centroid", nprobe: int = 0, save_as: str = "", timeout: float | None = None,
    ) -> look_pb.LookalikeResponse:
        """Return the k users most like the seed audience (method: centroid, multi_centroid or knn_vote)."""
        request = look_pb.LookalikeRequest(
            seed_expression=seed_expression, candidate_expression=candidate_expression, k=k,
            exclude_seed=exclude_seed, method=look_pb.LookalikeMethod.Value(f"LOOKALIKE_METHOD_{method.upper()}"),
            nprobe_or_ef=nprobe, save_as=save_as)
        return self._call(self.lookalikes.Lookalike, request, timeout=timeout, idempotent=not save_as)

    # -- ad effect -------------------------------------------------------------
    def funnel(
        self, campaign: str, stages: list[str], start_date: str, end_date: str = "", *,
        audience_expression: str = "", breakdown_dimension: str = "", top_k: int = 0,
        value_fields: list[str] | None = None, timeout: float | None = None,
    ) -> ad_pb.FunnelResponse:
        """Return an ordered funnel of a campaign's events in a date range (ISO days), with value_fields summed
        over each stage's users."""
        request = ad_pb.FunnelRequest(campaign=campaign, stages=stages, start_date=start_date, end_date=end_date,
                                      audience_expression=audience_expression,
                                      breakdown_dimension=breakdown_dimension, top_k=top_k,
                                      value_fields=value_fields or [])
        return self._call(self.adeffect.Funnel, request, timeout=timeout, idempotent=True)

    def lift(
        self, campaign: str, exposure_event: str, outcome_event: str, start_date: str, end_date: str = "", *,
        audience_expression: str = "", value_fields: list[str] | None = None, timeout: float | None = None,
    ) -> ad_pb.LiftResponse:
        """Return the outcome rates of exposed vs unexposed audience users, with a z-test, and value_fields summed
        over both groups."""
        request = ad_pb.LiftRequest(campaign=campaign, exposure_event=exposure_event, outcome_event=outcome_event,
                                    start_date=start_date, end_date=end_date, audience_expression=audience_expression,
                                    value_fields=value_fields or [])
        return self._call(self.adeffect.Lift, request, timeout=timeout, idempotent=True)

    def retention(
        self, campaign: str, cohort_event: str, return_event: str, start_date: str, *, days: int = 7,
        end_date: str = "", timeout: float | None = None,
    ) -> ad_pb.RetentionResponse:
        """Return the cohort table of a campaign."""
        request = ad_pb.RetentionRequest(campaign=campaign, cohort_event=cohort_event, return_event=return_event,
                                         start_date=start_date, end_date=end_date, days=days)
        return self._call(self.adeffect.Retention, request, timeout=timeout, idempotent=True)

    def trend(
        self, events: list[str], start_date: str, end_date: str = "", *, campaign: str = "",
        audience_expression: str = "", timeout: float | None = None,
    ) -> ad_pb.TrendResponse:
        """Return reach per day of each event."""
        request = ad_pb.TrendRequest(campaign=campaign, events=events, start_date=start_date, end_date=end_date,
                                     audience_expression=audience_expression)
        return self._call(self.adeffect.Trend, request, timeout=timeout, idempotent=True)

    def split(self, expression: str, name: str, shares: dict[str, float], *, salt: str = "") -> ad_pb.SplitResponse:
        """Split an audience into saved parts `name.part` by a salted hash, e.g. {"test": 0.9, "holdout": 0.1}."""
        request = ad_pb.SplitRequest(expression=expression, name=name, salt=salt,
                                     shares=[ad_pb.SplitShare(name=k, share=v) for k, v in shares.items()])
        return self._call(self.adeffect.Split, request, timeout=None, idempotent=True)

    def list_campaigns(self) -> Iterator[cat_pb.Campaign]:
        """Yield every campaign with its events and days."""
        return self._pages(self.catalog.ListCampaigns, lambda t: cat_pb.ListCampaignsRequest(page_token=t),
                           "campaigns")

    # -- catalog and admin ---------------------------------------------------
    def list_dimensions(self, *, max_values: int = 0, dimension: str = "") -> Iterator[cat_pb.Dimension]:
        """Yield every dimension with its largest values."""
        return self._pages(self.catalog.ListDimensions, lambda t: cat_pb.ListDimensionsRequest(
            page_token=t, max_values=max_values, dimension=dimension), "dimensions")

    def status(self) -> admin_pb.StatusResponse:
        """Return the server's status."""
        return self._call(self.admin.Status, admin_pb.StatusRequest(), timeout=None, idempotent=True)

    def reload(self, *, timeout: float | None = None) -> admin_pb.ReloadResponse:
        """Make the server switch to the newest snapshot on disk."""
        return self._call(self.admin.Reload, admin_pb.ReloadRequest(), timeout=timeout or 120.0, idempotent=True)

    def checkpoint(self, *, timeout: float | None = None) -> admin_pb.CheckpointResponse:
        """Make the server write the stream's changes as a new snapshot version now."""
        return self._call(self.admin.Checkpoint, admin_pb.CheckpointRequest(), timeout=timeout or 600.0,
                          idempotent=True)

    # -- stream ingest --------------------------------------------------------
    def get_offsets(self, sources: list[str] | None = None, *, timeout: float | None = None) -> dict[str, int]:
        """Return source -> highest applied offset (-1 for a source never seen); all known sources when None."""
        response = self._call(self.ingest.GetOffsets, ing_pb.GetOffsetsRequest(sources=sources or []),
                              timeout=timeout, idempotent=True)
        return {o.source: o.offset for o in response.offsets}

    def mutate(self, batches: Iterator[ing_pb.MutationBatch]) -> Iterator[ing_pb.MutationAck]:
        """Stream batches and yield one ack per batch, in order (no deadline; never retried: use dolphin.sink).

        A rejected batch ends the stream with its DolphinError.
        """
        try:
            yield from self.ingest.Mutate(batches, metadata=self._metadata)
        except grpc.RpcError as exc:
            raise to_dolphin_error(exc) from None
