"""The Engine facade: every question Dolphin answers, as plain Python calls on one served snapshot.

Each call reads the current snapshot once, so it sees one version even while a reload swaps it.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import pathlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import polars as pl
from pyroaring import AbstractBitMap

from dolphin.config import Settings
from dolphin.engine import adeffect, catalog, paging
from dolphin.engine.aggregates import (
    AggregateResult,
    FieldAggregate,
    FieldPart,
    aggregate_field,
    check_request,
    cut_values,
    field_part,
)
from dolphin.engine.api import Offload
from dolphin.engine.audiences import AudienceStore, check_name
from dolphin.engine.bsi import Field
from dolphin.engine.cache_budget import CacheBudget
from dolphin.engine.evaluate import Budget, count, materialize, prefixed, trace
from dolphin.engine.exchange import (
    bitmap_of,
    decoded_bitmap,
    imported_description,
    possible_user_ids,
    require_integer_ids,
    sorted_integers,
)
from dolphin.engine.export import ExportCursor, OrderedExportCursor
from dolphin.engine.memory import return_free_memory
from dolphin.engine.numeric_profile import numeric_profile
from dolphin.engine.planner import Node, plan
from dolphin.engine.profile import profile_dimensions, value_counts
from dolphin.engine.release import release, replaced_bitmaps, yield_gil
from dolphin.engine.results import (
    AudienceInfo,
    AudiencePage,
    BatchCountResult,
    BitmapExport,
    CountResult,
    DimensionPage,
    ExplainResult,
    ExportPage,
    OverlapResult,
    ProfileResult,
    ReloadResult,
    ServedVersion,
    StatusInfo,
    ValueCountsResult,
)
from dolphin.engine.snapshot import Snapshot, SnapshotRef
from dolphin.errors import (
    InvalidArgumentError,
    PreconditionError,
    QueryLimitError,
    QueryTypeError,
    UnknownDimensionError,
)
from dolphin.query import Expr, QueryLimits, format_expr, parse
from dolphin.storage import DimensionKind, MarkKind, SnapshotData, bitmap_from_array, open_newest_snapshot, partition
from dolphin.storage.bitmap_formats import BitmapFormat
from dolphin.storage.cluster_file import shard_pin

log = logging.getLogger("dolphin.engine")


class VersionAdopter(Protocol):
    """Who serves a new version on disk instead of the engine (the stream: it re-applies its log on top)."""

    def adopt(self, data: SnapshotData) -> None:
        """Serve data, publishing through Engine.publish."""
        ...


@dataclass(frozen=True, slots=True)
class EngineLimits:
    """Per-request limits; see dolphin.config for their settings."""

    query: QueryLimits = QueryLimits()
    max_batch_expressions: int = 256
    max_overlap_expressions: int = 32
    max_page_size: int = 10000
    max_profile_dimensions: int = 50
    max_top_k: int = 1000
    max_event_days: int = 366
    read_cache_bytes: int = -1  # Snapshot.cache's budget; -1: cache_budget.BYTES_PER_USER of each snapshot's users

    @staticmethod
    def from_settings(settings: Settings) -> EngineLimits:
        """Return the limits configured in settings."""
        return EngineLimits(
            query=QueryLimits(settings.max_expression_length, settings.max_terms, settings.max_depth),
            max_batch_expressions=settings.max_batch_expressions,
            max_overlap_expressions=settings.max_overlap_expressions,
            max_page_size=settings.max_page_size,
            max_profile_dimensions=settings.max_profile_dimensions,
            max_top_k=settings.max_top_k,
            max_event_days=settings.max_event_days,
            read_cache_bytes=int(settings.read_cache_mb * 1024 * 1024) if settings.read_cache_mb >= 0 else -1,
        )


def bounded(value: int, default: int, limit: int, what: str, setting: str) -> int:
    """Return value, or default when 0; raises for a negative value or one over the limit (naming the setting)."""
    if value < 0:
        raise InvalidArgumentError(f"{what} must not be negative, got {value}")
    value = value or default
    if value > limit:
        raise QueryLimitError(what, value, limit, setting)
    return value


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class Engine:
    """Dolphin's query engine over a data directory; thread-safe for concurrent readers."""

    def __init__(
        self, data_dir: str | os.PathLike[str], *, limits: EngineLimits | None = None, load: bool = True,
        adopter: VersionAdopter | None = None, strict_names: bool = True,
    ) -> None:
        """Serve data_dir; with an adopter (the stream's), new batch versions go to it instead of being served
        as they are (load must then be False: the adopter opens the first version when it starts).

        strict_names=False is a cluster shard's engine: an unknown dimension, campaign or event is empty rather
        than an error, because another shard may hold its users; the front checks names against all shards.
        """
        if load and adopter is not None:
            raise ValueError("an engine with a version adopter is loaded by the adopter: pass load=False")
        self.data_dir = pathlib.Path(data_dir)
        self.limits = limits or EngineLimits()
        self._ref = SnapshotRef()
        self.audiences = AudienceStore(self.data_dir)
        self._reload_lock = threading.Lock()
        self._parse = functools.lru_cache(maxsize=4096)(self._parse_uncached)
        self._adopter = adopter
        self._prepared: SnapshotData | None = None  # a version prepare_version opened for the next reload
        self.strict_names = strict_names
        if load:
            self.reload()

    # -- state -----------------------------------------------------------
    @property
    def ready(self) -> bool:
        """True once a snapshot is served."""
        return self._ref.loaded


    def snapshot(self) -> Snapshot:
        """Return the served snapshot (NotReadyError before the first); read it once per question."""
        return self._ref.current

    def new_cache(self) -> CacheBudget:
        """Return an empty read-cache budget of this engine's size, for a snapshot read from disk."""
        if self.limits.read_cache_bytes < 0:
            return CacheBudget.per_user()
        return CacheBudget(self.limits.read_cache_bytes)

    def publish(self, snapshot: Snapshot, reason: str, defer_to: list[AbstractBitMap] | None = None) -> None:
        """Serve snapshot from now on; the one way the served state changes (reason is for the log).

        The bitmaps only the replaced snapshot held are freed one at a time (release.py): here, or by the caller
        when it passes defer_to, to which they are appended (the stream writer frees them after its acks).
        """
        previous = self._ref.swap(snapshot)
        replaced = replaced_bitmaps(previous, snapshot) if previous is not None else []
        del previous  # its bitmaps outlive it in `replaced`, unless a read still holds it
        if reason != "stream":  # a stream batch publishes many times a second
            log.info("serving snapshot version %d (%s, %d users)", snapshot.version, reason,
                     len(snapshot.population))
        if defer_to is not None:
            defer_to.extend(replaced)
        else:
            release(replaced, yield_gil)

    def reload(self) -> ReloadResult:
        """Switch to the newest valid snapshot on disk, if it is newer; the swap is atomic.

        A cluster shard switches only to the batch load it is pinned to (cluster_file.shard_pin), which the
        front moves on every shard at once.
        """
        self.audiences.refresh()
        with self._reload_lock:
            previous = self._ref.current.version if self._ref.loaded else 0
            pin = shard_pin(self.data_dir)
            data = open_newest_snapshot(self.data_dir, newer_than=previous) if pin is None else \
                self._pinned_version(pin)
            if data is None:
                return ReloadResult(previous, previous, False)
            version = data.version
            if self._adopter is not None:
                if pin is None and data.manifest.stream.kind is MarkKind.CHECKPOINT:
                    return ReloadResult(previous, previous, False)  # written from this state: nothing new
                self._adopter.adopt(data)
            else:
                self.publish(Snapshot(data, cache=self.new_cache()), "reload")
            del data
            return_free_memory()
            return ReloadResult(previous, version, True)

    def _pinned_version(self, pin: int) -> SnapshotData | None:
        """Return the version of batch load `pin` to serve (the one prepared, if it is), or None when served."""
        prepared, self._prepared = self._prepared, None
        if self.served_batch() == pin:
            return None
        data = prepared if prepared is not None and prepared.manifest.batch == pin else open_newest_snapshot(
            self.data_dir, batch_at_most=pin)
        return None if data is None or data.manifest.batch == self.served_batch() else data

    def served_batch(self) -> int:
        """Return the batch version the served data comes from (0 before the first)."""
        return self._ref.current.data.manifest.batch if self._ref.loaded else 0

    def prepare_version(self, batch: int) -> int:
        """Open and verify the newest version of batch load `batch`, held for the reload that pins it.

        A cluster shard's first phase of a cluster-wide reload: PreconditionError when no valid version of that
        batch is on disk, so the front can give up before any shard moves. Returns the served batch version.
        """
        with self._reload_lock:
            self._prepared = None
            served = self.served_batch()
            if batch in (0, served):  # 0: the front gave up; drop what was held
                return served
            data = open_newest_snapshot(self.data_dir, batch_at_most=batch)
            if data is None or data.manifest.batch != batch:
                found = "none" if data is None else f"the newest valid one holds batch {data.manifest.batch}"
                raise PreconditionError(f"{self.data_dir} has no valid version of batch load {batch} ({found})")
            self._prepared = data
            return served

    def serve_version(self, batch: int) -> ServedVersion:
        """Move to the batch load this shard is pinned to (PreconditionError when the pin names another)."""
        pin = shard_pin(self.data_dir)
        if pin != batch:
            pinned = "has no pin" if pin is None else f"is pinned to batch version {pin}"
            raise PreconditionError(f"{self.data_dir} {pinned}, not {batch}: the front writes the pins before it "
                                    "moves the shards")
        result = self.reload()
        return ServedVersion(result, self.served_batch())

    def _parse_uncached(self, expression: str) -> Expr:
        return parse(expression, self.limits.query)

    def _plan(self, snap: Snapshot, expression: str) -> Node:
        return plan(self._parse(expression), snap, self.audiences.bitmap, strict=self.strict_names)

    # -- audience questions ---------------------------------------------
    def count(self, expression: str, *, deadline: float | None = None) -> CountResult:
        """Return the number of users matching an expression."""
        snap = self._ref.current
        return CountResult(count(self._plan(snap, expression), Budget("count", deadline)), snap.version)

    async def count_async(self, expression: str, *, deadline: float | None = None) -> CountResult:
        """count, run on the event loop itself.

        A count takes 0.05-0.5 ms at 10M users, less than the thread hop (measured: p50 0.83 -> 0.71 ms end to
        end, q2 throughput 1026 -> 1153/s); limits and the deadline bound the worst case.
        """
        return self.count(expression, deadline=deadline)

    def batch_count(self, expressions: list[str], *, deadline: float | None = None) -> BatchCountResult:
        """Return the counts of many expressions on one version."""
        if len(expressions) > self.limits.max_batch_expressions:
            raise QueryLimitError(
                "BatchCount expression count", len(expressions), self.limits.max_batch_expressions,
                "max_batch_expressions",
            )
        snap = self._ref.current
        budget = Budget("batch count", deadline)
        counts = []
        for expression in expressions:
            budget.check()
            counts.append(count(self._plan(snap, expression), budget))
        return BatchCountResult(counts, snap.version)

    def audience(self, expression: str, *, deadline: float | None = None) -> tuple[Snapshot, AbstractBitMap]:
        """Return the snapshot and the bitmap of an expression (do not mutate the bitmap)."""
        snap = self._ref.current
        return snap, materialize(self._plan(snap, expression), Budget("evaluation", deadline))

    def export_cursor(
        self, expression: str, *, page_size: int = 0, page_token: str = "", deadline: float | None = None,
        integers: bool = False, order_by: str = "", descending: bool = False,
    ) -> ExportCursor | OrderedExportCursor:
        """Evaluate an expression once and return a cursor over its external IDs (int64 ones with integers), in
        dense-ID order, or ordered by the numeric field order_by (ties by dense ID, users without a value last)."""
        size = bounded(page_size, 1000, self.limits.max_page_size, "export page size", "max_page_size")
        snap = self._ref.current
        if integers and snap.ids.id_type != "int64":
            raise PreconditionError("this data's user IDs are strings, not integers: export them as text "
                                    "(ID_ENCODING_TEXT)")
        subject = format_expr(self._parse(expression))
        if order_by:
            self.check_numeric(snap, [order_by])
            subject = f"{subject}\x00order by {order_by} {'desc' if descending else 'asc'}"
        resume = paging.read_token(page_token, snap.version, snap.data.manifest.built_at, subject) if page_token \
            else paging.Resume(0)
        start = resume.position
        node = self._plan(snap, expression)
        if order_by:
            audience = materialize(node, Budget("export", deadline))
            index = snap.numeric(order_by) if snap.has_dimension(order_by) else Field.of(
                order_by, DimensionKind.INTEGER, {})
            return OrderedExportCursor(snap, subject, audience, index, descending, size, start, integers)
        budget = Budget("export", deadline)
        node = prefixed(node, budget)
        total = resume.total if resume.total is not None else count(node, budget)  # a resumed page: no recount
        return ExportCursor(snap, subject, node, size, start, total, integers)

    async def open_export_async(self, expression: str, offload: Offload, *, page_size: int = 0,
                                page_token: str = "", deadline: float | None = None, integers: bool = False,
                                order_by: str = "", descending: bool = False
                                ) -> tuple[ExportCursor | OrderedExportCursor, ExportPage]:
        """export_cursor and its first page on the event loop when that is one count and one window.

        Measured at 10M users (bench/grpc_floor.py): the first 10k-ID page of q2 costs 1.1 ms on the loop and
        1.7-2.3 ms of CPU on a worker thread, plus the hop. An ordered export, or an audience whose first window
        does not fill the page, finishes through `offload` (the server's worker threads).
        """
        open_export = functools.partial(self.export_cursor, expression, page_size=page_size, page_token=page_token,
                                        deadline=deadline, integers=integers, order_by=order_by,
                                        descending=descending)
        if order_by:
            cursor = await offload(open_export)
            return cursor, await offload(cursor.next_page)
        cursor = open_export()
        if isinstance(cursor, ExportCursor) and not cursor.page_ready():
            return cursor, await offload(cursor.next_page)
        return cursor, cursor.next_page()

    def export_bitmap(self, expression: str, fmt: BitmapFormat, *, wide: bool = False,
                      deadline: float | None = None) -> BitmapExport:
        """Return an audience as one bitmap of its external integer IDs (PreconditionError for string IDs)."""
        snap, audience = self.audience(expression, deadline=deadline)
        values = sorted_integers(snap.ids, np.frombuffer(audience.to_array(), dtype=np.uint32))
        return bitmap_of(values, fmt, wide, snap.version)

    def save_audience_bitmap(self, name: str, data: bytes, fmt: BitmapFormat, *, overwrite: bool = False
                             ) -> AudienceInfo:
        """Save a bitmap of external integer IDs as @name; IDs no user has are left out and counted."""
        check_name(name)
        snap = self._ref.current
        if len(snap.ids):
            require_integer_ids(snap.ids.id_type, "bitmap import")
        values, unusable = possible_user_ids(decoded_bitmap(data, fmt))
        dense = snap.ids.lookup(pl.Series("user_id", values, dtype=pl.Int64)).drop_nulls() if len(snap.ids) else (
            pl.Series("dense", [], dtype=pl.UInt32))
        return self.audiences.save(name, imported_description(fmt), bitmap_from_array(dense.to_numpy()),
                                   snap.version, overwrite=overwrite, unknown_ids=unusable + len(values) - len(dense))

    def export_pages(self, expression: str, *, page_size: int = 0, page_token: str = "") -> Iterator[ExportPage]:
        """Yield every page of an audience's external IDs from page_token on."""
        cursor = self.export_cursor(expression, page_size=page_size, page_token=page_token)
        while True:
            page = cursor.next_page()
            yield page
            if not page.next_page_token:
                return

    def profile(
        self, expression: str, *, dimensions: list[str] | None = None, top_k: int = 0,
        numeric_cuts: dict[str, list[str]] | None = None, deadline: float | None = None,
    ) -> ProfileResult:
        """Return the TGI profile of an audience over the given dimensions and numeric fields (all dimensions
        when empty); numeric fields are bucketed at numeric_cuts[field], or at the population's deciles."""
        top_k = bounded(top_k, 20, self.limits.max_top_k, "profile top_k", "max_top_k")
        snap = self._ref.current
        names = list(dict.fromkeys(dimensions)) if dimensions else sorted(
            d for d in snap.tags if not snap.is_numeric(d))
        if len(names) > self.limits.max_profile_dimensions:
            raise QueryLimitError(
                "profile dimension count", len(names), self.limits.max_profile_dimensions, "max_profile_dimensions"
            )
        self._check_dimensions(snap, names)
        cuts = numeric_cuts or {}
        for name in cuts:
            if name not in names or not snap.is_numeric(name):
                raise InvalidArgumentError(f'numeric_cuts names "{name}", which is not a numeric field of this '
                                           "profile's dimensions")
        budget = Budget("profile", deadline)
        audience = materialize(self._plan(snap, expression), budget)
        numeric = {n for n in names if snap.is_numeric(n)}
        by_name = {p.dimension: p for p in profile_dimensions(snap, audience, [n for n in names if n not in numeric],
                                                               top_k, budget)}
        by_name.update({n: numeric_profile(snap, audience, n, cuts.get(n), budget) for n in numeric})
        return ProfileResult(len(audience), len(snap.population), [by_name[n] for n in names], snap.version)

    def aggregate(self, expression: str, fields: list[str], *, percentiles: list[float] | None = None,
                  cut_points: list[str] | None = None, statistics: list[str] | None = None,
                  deadline: float | None = None) -> AggregateResult:
        """Return count, sum, mean, min, max, standard deviation, exact percentiles and a histogram of numeric
        fields over the audience's users that have a value (statistics: Statistic names; empty means all)."""
        percentiles, cut_points = list(percentiles or []), list(cut_points or [])
        wanted = check_request(percentiles, cut_points, list(statistics or []))
        if not fields:
            raise InvalidArgumentError("Aggregate needs at least one numeric field (see ListDimensions)")
        names = list(dict.fromkeys(fields))
        if len(names) > self.limits.max_profile_dimensions:
            raise QueryLimitError("Aggregate field count", len(names), self.limits.max_profile_dimensions,
                                  "max_profile_dimensions")
        snap = self._ref.current
        self.check_numeric(snap, names)
        budget = Budget("aggregate", deadline)
        audience = materialize(self._plan(snap, expression), budget)
        out = []
        for name in names:
            if not snap.has_dimension(name):  # a cluster shard without the field
                out.append(FieldAggregate(name, snap.kinds.get(name, DimensionKind.INTEGER), 0))
                continue
            index = snap.numeric(name)
            out.append(aggregate_field(index, audience, percentiles, cut_values(index.kind, name, cut_points), wanted,
                                       budget))
        return AggregateResult(len(audience), out, snap.version)

    def field_parts(self, expression: str, fields: list[str], *, thresholds: dict[str, list[int]] | None = None,
                    sums: bool = False, extremes: bool = False, squares: bool = False, sizes: bool = False,
                    deadline: float | None = None) -> tuple[int, list[FieldPart], int]:
        """Return (audience size, each field's exact partial aggregate, version): what a cluster front adds up."""
        snap = self._ref.current
        self.check_numeric(snap, fields)
        budget = Budget("field parts", deadline)
        audience = materialize(self._plan(snap, expression), budget)
        parts = []
        for f in fields:
            if not snap.has_dimension(f):
                parts.append(FieldPart(f, "", 0))
                continue
            part = field_part(snap.numeric(f), audience, (thresholds or {}).get(f, []), sums=sums, extremes=extremes,
                              squares=squares, budget=budget)
            if sizes:
                info = catalog.describe_dimension(snap, f, 0)
                part = dataclasses.replace(part, bits=info.bits, index_bytes=info.index_bytes)
            parts.append(part)
        return len(audience), parts, snap.version

    def check_numeric(self, snap: Snapshot, names: list[str]) -> None:
        """Raise UnknownDimensionError or QueryTypeError unless every name is a numeric field."""
        self._check_dimensions(snap, names)
        for name in names:
            if snap.has_dimension(name) and not snap.is_numeric(name):
                raise QueryTypeError(None, f'"{name}" is a tag dimension, not a numeric field; profile it instead')

    def overlap(self, expressions: list[str], *, deadline: float | None = None) -> OverlapResult:
        """Return audience sizes and all pairwise intersection sizes."""
        limit = self.limits.max_overlap_expressions
        if len(expressions) > limit:
            raise QueryLimitError("Overlap expression count", len(expressions), limit, "max_overlap_expressions")
        if len(expressions) < 2:
            raise InvalidArgumentError(f"Overlap needs at least 2 expressions, got {len(expressions)}")
        snap = self._ref.current
        budget = Budget("overlap", deadline)
        bitmaps = [materialize(self._plan(snap, e), budget) for e in expressions]
        pairs: list[tuple[int, int, int]] = []
        for i, a in enumerate(bitmaps):
            budget.check()
            pairs.extend((i, j, a.intersection_cardinality(b)) for j, b in enumerate(bitmaps) if j > i)
        return OverlapResult([len(b) for b in bitmaps], pairs, snap.version)

    def explain(self, expression: str, *, deadline: float | None = None) -> ExplainResult:
        """Evaluate an expression and return its plan with each node's cardinality and time."""
        snap = self._ref.current
        expr = self._parse(expression)
        result, root = trace(plan(expr, snap, self.audiences.bitmap, strict=self.strict_names),
                             Budget("explain", deadline))
        return ExplainResult(root, len(result), snap.version, format_expr(expr))

    def value_counts(self, expression: str = "", *, dimensions: list[str] | None = None,
                     deadline: float | None = None) -> ValueCountsResult:
        """Return every value of the dimensions (all when empty) with its size and, given an expression, its
        users in that audience; plus the campaigns. The raw counts a cluster front merges exactly."""
        snap = self._ref.current
        names = list(dict.fromkeys(dimensions)) if dimensions else sorted(snap.tags)
        self._check_dimensions(snap, names)
        budget = Budget("value counts", deadline)
        audience = materialize(self._plan(snap, expression), budget) if expression.strip() else None
        counted = value_counts(snap, audience, names, budget)
        return ValueCountsResult(len(audience) if audience is not None else 0, len(snap.population), counted,
                                 snap.events.campaigns, snap.version)

    def _check_dimensions(self, snap: Snapshot, names: list[str]) -> None:
        for name in names:
            if self.strict_names and not snap.has_dimension(name):
                raise UnknownDimensionError(name, snap.suggest_dimension(name))

    # -- saved audiences ---------------------------------------------------
    def save_audience(self, name: str, expression: str, *, overwrite: bool = False) -> AudienceInfo:
        """Materialise an expression and save it as @name."""
        check_name(name)
        snap, bitmap = self.audience(expression)
        return self.audiences.save(name, expression, bitmap, snap.version, overwrite=overwrite)

    def get_audience(self, name: str) -> AudienceInfo:
        """Return a saved audience."""
        return self.audiences.get(name)

    def list_audiences(self, *, page_size: int = 0, page_token: str = "") -> AudiencePage:
        """Return a page of saved audiences, by name."""
        size = bounded(page_size, 100, 1000, "audience page size", "page_size")
        names, token = catalog.page_of_names(self.audiences.names(), size, page_token)
        return AudiencePage([self.audiences.get(n) for n in names], token)

    def delete_audience(self, name: str) -> AudienceInfo:
        """Delete a saved audience."""
        return self.audiences.delete(name)

    # -- ad effect ----------------------------------------------------------
    def _optional_audience(self, snap: Snapshot, expression: str, budget: Budget) -> AbstractBitMap | None:
        return materialize(self._plan(snap, expression), budget) if expression.strip() else None

    def _optional_plan(self, snap: Snapshot, expression: str) -> Node | None:
        return self._plan(snap, expression) if expression.strip() else None

    def funnel(
        self, campaign: str, stages: list[str], start_date: str, end_date: str = "", *,
        audience_expression: str = "", breakdown_dimension: str = "", top_k: int = 0,
        value_fields: list[str] | None = None, deadline: float | None = None,
    ) -> adeffect.FunnelResult:
        """Return an ordered funnel of a campaign's events in a date range, optionally by segment, with the
        sums of numeric value fields over each stage's users."""
        snap = self._ref.current
        start, end, _ = adeffect.day_range(start_date, end_date, self.limits.max_event_days)
        top_k = bounded(top_k, 20, self.limits.max_top_k, "funnel top_k", "max_top_k")
        if breakdown_dimension:
            self._check_dimensions(snap, [breakdown_dimension])
        fields = self._value_fields(snap, value_fields)
        return adeffect.funnel(snap, campaign, stages, start, end, self._optional_plan(snap, audience_expression),
                               breakdown_dimension, top_k, Budget("funnel", deadline), self.strict_names, fields)

    def _value_fields(self, snap: Snapshot, fields: list[str] | None) -> list[str]:
        names = list(dict.fromkeys(fields or []))
        if len(names) > self.limits.max_profile_dimensions:
            raise QueryLimitError("value field count", len(names), self.limits.max_profile_dimensions,
                                  "max_profile_dimensions")
        self.check_numeric(snap, names)
        return names

    def lift(
        self, campaign: str, exposure_event: str, outcome_event: str, start_date: str, end_date: str = "", *,
        audience_expression: str = "", value_fields: list[str] | None = None, deadline: float | None = None,
    ) -> adeffect.LiftResult:
        """Return the outcome rate of exposed vs unexposed audience users, with a z-test, and the sums of numeric
        value fields over both groups."""
        snap = self._ref.current
        start, end, _ = adeffect.day_range(start_date, end_date, self.limits.max_event_days)
        fields = self._value_fields(snap, value_fields)
        return adeffect.lift(snap, campaign, exposure_event, outcome_event, start, end,
                             self._optional_plan(snap, audience_expression), Budget("lift", deadline),
                             self.strict_names, fields)

    def retention(
        self, campaign: str, cohort_event: str, return_event: str, start_date: str, end_date: str = "", *,
        days: int = 7, deadline: float | None = None,
    ) -> tuple[list[adeffect.RetentionRow], int]:
        """Return the cohort table: per cohort day, users returning 1..days days later."""
        snap = self._ref.current
        if not 1 <= days <= self.limits.max_event_days:
            raise InvalidArgumentError(f"days must be between 1 and {self.limits.max_event_days}, got {days}")
        _, _, cohort_days = adeffect.day_range(start_date, end_date, self.limits.max_event_days)
        rows = adeffect.retention(snap, campaign, cohort_event, return_event, cohort_days, days,
                                  Budget("retention", deadline), self.strict_names)
        return rows, snap.version

    def trend(
        self, campaign: str, events: list[str], start_date: str, end_date: str = "", *,
        audience_expression: str = "", deadline: float | None = None,
    ) -> tuple[list[adeffect.TrendSeries], int]:
        """Return reach per day of each event (campaign empty: any campaign)."""
        snap = self._ref.current
        if not events:
            raise InvalidArgumentError("trend needs at least one event")
        _, _, days = adeffect.day_range(start_date, end_date, self.limits.max_event_days)
        audience = self._optional_audience(snap, audience_expression, Budget("trend", deadline))
        return adeffect.trend(snap, campaign or None, events, days, audience, self.strict_names), snap.version

    def split(self, expression: str, name: str, parts: list[tuple[str, float]], salt: str) -> list[AudienceInfo]:
        """Split an audience by a salted hash into named parts, each saved as the audience `name.part`."""
        names, shares = [p for p, _ in parts], [s for _, s in parts]
        adeffect.check_shares(names, shares)
        targets = [check_name(f"{name}.{part}") for part in names]
        snap, audience = self.audience(expression)
        dense = np.frombuffer(audience.to_array(), dtype=np.uint32)
        external = snap.ids.external.gather(pl.Series(dense, dtype=pl.UInt32))
        buckets = adeffect.split_buckets(partition.user_hashes(external, snap.ids.id_type), shares, salt)
        return [self.audiences.save(target, f"{expression} [split {name} salt={salt!r} part {part}]",
                                    bitmap_from_array(dense[buckets == i]), snap.version, overwrite=True)
                for i, (target, part) in enumerate(zip(targets, names, strict=True))]

    def list_campaigns(self) -> dict[str, dict[str, list[str]]]:
        """Return campaign -> event -> sorted days with data."""
        return self._ref.current.events.campaigns

    def list_campaign_names(self, *, page_size: int = 0, page_token: str = "") -> tuple[list[str], str, int]:
        """Return (a page of campaign names, next token, snapshot version)."""
        size = bounded(page_size, 100, 1000, "campaign page size", "page_size")
        snap = self._ref.current
        names, token = catalog.page_of_names(sorted(snap.events.campaigns), size, page_token)
        return names, token, snap.version

    # -- catalog and status ----------------------------------------------------
    def list_dimensions(
        self, *, page_size: int = 0, page_token: str = "", max_values: int = 0, dimension: str = ""
    ) -> DimensionPage:
        """Return a page of dimensions, by name, each with its largest values."""
        size = bounded(page_size, 100, 1000, "dimension page size", "page_size")
        values = bounded(max_values, 100, 10000, "max_values", "max_values")
        snap = self._ref.current
        names = [dimension] if dimension else sorted(snap.tags)
        page, token = catalog.page_of_names(names, size, page_token)
        return DimensionPage([catalog.describe_dimension(snap, n, values) for n in page], token, snap.version)

    def status(self) -> StatusInfo:
        """Return what is served and how much memory it takes."""
        if not self._ref.loaded:
            return StatusInfo(0, 0, 0, 0, 0, _rss_bytes(), 0.0, 0.0, str(self.data_dir), len(self.audiences))
        snap = self._ref.current
        return StatusInfo(
            snap.version, len(snap.population), snap.tag_count, len(snap.tags), snap.data.serialized_bytes,
            _rss_bytes(), snap.data.manifest.built_at, snap.loaded_at, str(self.data_dir), len(self.audiences),
            tuple(snap.data.skipped_versions), cache_bytes=snap.cache_bytes(), read_cache_limit_bytes=snap.cache.limit,
        )

