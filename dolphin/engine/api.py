"""The engine interface the servicers call: `EngineApi`. `Engine` implements it over one data dir; a cluster
front implements it again over shards, so the server never knows which one it serves.

Every question reads one snapshot and reports its version; errors are DolphinError subclasses (dolphin.errors),
which the server maps to status codes in one table.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from dolphin.engine import adeffect
from dolphin.engine import results as r
from dolphin.engine.aggregates import AggregateResult, FieldPart
from dolphin.storage.bitmap_formats import BitmapFormat

T = TypeVar("T")


class Offload(Protocol):
    """The server's way to run a blocking call off its event loop (dolphin.server.run_engine)."""

    def __call__(self, fn: Callable[[], T]) -> Awaitable[T]: ...


class ExportPages(Protocol):
    """An evaluated audience, paged in dense-ID order."""

    total: int  # users in the whole audience

    def next_page(self) -> r.ExportPage:
        """Return the next page (its next_page_token is empty on the last)."""
        ...


class EngineApi(Protocol):
    """What the gRPC (and HTTP) servicers may call; `deadline` is absolute time.monotonic() seconds."""

    @property
    def ready(self) -> bool:
        """True once a snapshot is served."""
        ...


    def reload(self) -> r.ReloadResult:
        """Serve the newest valid version on disk if it is newer."""
        ...

    def status(self) -> r.StatusInfo:
        """What is served and what it costs."""
        ...

    # a cluster shard's two phases of a cluster-wide reload (PreconditionError on a cluster front)
    def prepare_version(self, batch: int) -> int:
        """Open and verify this shard's version of batch load `batch`; return the batch version served now."""
        ...

    def serve_version(self, batch: int) -> r.ServedVersion:
        """Move to the batch load this shard is pinned to, which must be `batch`."""
        ...

    # audiences
    def count(self, expression: str, *, deadline: float | None = None) -> r.CountResult: ...

    async def count_async(self, expression: str, *, deadline: float | None = None) -> r.CountResult:
        """count, awaited on the server's event loop (the hottest call gets no thread hop)."""
        ...

    def batch_count(self, expressions: list[str], *, deadline: float | None = None) -> r.BatchCountResult: ...

    def export_cursor(self, expression: str, *, page_size: int = 0, page_token: str = "",
                      deadline: float | None = None, integers: bool = False, order_by: str = "",
                      descending: bool = False) -> ExportPages:
        """Open an export; with integers, pages carry int64 IDs (PreconditionError for string IDs); with
        order_by, users come ordered by that numeric field (ties by dense ID, users without a value last)."""
        ...

    async def open_export_async(self, expression: str, offload: Offload, *, page_size: int = 0,
                                page_token: str = "", deadline: float | None = None, integers: bool = False,
                                order_by: str = "", descending: bool = False) -> tuple[ExportPages, r.ExportPage]:
        """export_cursor and its first page, awaited on the server's event loop; whatever may take long goes
        through offload (the server's hop to its worker threads)."""
        ...

    def profile(self, expression: str, *, dimensions: list[str] | None = None, top_k: int = 0,
                numeric_cuts: dict[str, list[str]] | None = None, deadline: float | None = None
                ) -> r.ProfileResult: ...

    def overlap(self, expressions: list[str], *, deadline: float | None = None) -> r.OverlapResult: ...

    def aggregate(self, expression: str, fields: list[str], *, percentiles: list[float] | None = None,
                  cut_points: list[str] | None = None, statistics: list[str] | None = None,
                  deadline: float | None = None) -> AggregateResult:
        """Figures of numeric fields over the audience's users that have a value."""
        ...

    def field_parts(self, expression: str, fields: list[str], *, thresholds: dict[str, list[int]] | None = None,
                    sums: bool = False, extremes: bool = False, squares: bool = False, sizes: bool = False,
                    deadline: float | None = None) -> tuple[int, list[FieldPart], int]:
        """A shard's exact partial aggregates of numeric fields (PreconditionError on a cluster front)."""
        ...

    def explain(self, expression: str, *, deadline: float | None = None) -> r.ExplainResult: ...

    def value_counts(self, expression: str = "", *, dimensions: list[str] | None = None,
                     deadline: float | None = None) -> r.ValueCountsResult: ...

    def save_audience(self, name: str, expression: str, *, overwrite: bool = False) -> r.AudienceInfo: ...

    def export_bitmap(self, expression: str, fmt: BitmapFormat, *, wide: bool = False,
                      deadline: float | None = None) -> r.BitmapExport:
        """Return an audience as one bitmap of its external integer IDs (PreconditionError for string or
        negative IDs); wide forces the 64-bit form."""
        ...

    def save_audience_bitmap(self, name: str, data: bytes, fmt: BitmapFormat, *, overwrite: bool = False
                             ) -> r.AudienceInfo:
        """Save a bitmap of external integer IDs as @name; unknown IDs are left out and counted (unknown_ids).
        Bad bytes are InvalidArgumentError, and nothing is saved."""
        ...

    def get_audience(self, name: str) -> r.AudienceInfo: ...

    def list_audiences(self, *, page_size: int = 0, page_token: str = "") -> r.AudiencePage: ...

    def delete_audience(self, name: str) -> r.AudienceInfo: ...

    # catalog
    def list_dimensions(self, *, page_size: int = 0, page_token: str = "", max_values: int = 0,
                        dimension: str = "") -> r.DimensionPage: ...

    def list_campaigns(self) -> dict[str, dict[str, list[str]]]: ...

    def list_campaign_names(self, *, page_size: int = 0, page_token: str = "") -> tuple[list[str], str, int]: ...

    # ad effect
    def funnel(self, campaign: str, stages: list[str], start_date: str, end_date: str = "", *,
               audience_expression: str = "", breakdown_dimension: str = "", top_k: int = 0,
               value_fields: list[str] | None = None, deadline: float | None = None) -> adeffect.FunnelResult: ...

    def lift(self, campaign: str, exposure_event: str, outcome_event: str, start_date: str, end_date: str = "", *,
             audience_expression: str = "", value_fields: list[str] | None = None,
             deadline: float | None = None) -> adeffect.LiftResult: ...

    def retention(self, campaign: str, cohort_event: str, return_event: str, start_date: str, end_date: str = "",
                  *, days: int = 7, deadline: float | None = None) -> tuple[list[adeffect.RetentionRow], int]: ...

    def trend(self, campaign: str, events: list[str], start_date: str, end_date: str = "", *,
              audience_expression: str = "", deadline: float | None = None
              ) -> tuple[list[adeffect.TrendSeries], int]: ...

    def split(self, expression: str, name: str, parts: list[tuple[str, float]], salt: str) -> list[r.AudienceInfo]: ...
