"""ClusterEngine: the engine interface (`EngineApi`) a second time, over shard servers.

Every question goes to all shards at once (one fan-out per call, never one per term) and the answers merge by
rules that make them equal to a single node's over the same users, because shards partition the users:

- counts, overlaps, funnels, retention, trends and lift inputs add up; rates, TGI and the z-test are computed
  once, from the sums, with the single node's own functions;
- profiles, breakdowns and listings merge every value's raw counts (ShardService.ValueCounts, or shards asked
  for every value) and cut to top_k after the merge, never before;
- names are checked, and open event() dates filled in, by the front (`names`), since a shard may lack a name
  that another shard knows.

A shard that does not answer fails the whole call with ShardUnavailableError naming it: never a partial sum.
Reload is the one writer of the cluster's served versions: it holds every question out while it moves all
shards to their new version, so a question sees the old version on every shard or the new one on every shard.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import pathlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import numpy as np

from dolphin.cluster import numeric as cluster_numeric
from dolphin.cluster.channels import ShardChannels, ShardStubs
from dolphin.cluster.exchange import merged_bitmap, shard_parts
from dolphin.cluster.export import (
    ClusterExport,
    OrderedClusterExport,
    ordered_subject,
    read_ordered_token,
    read_token,
)
from dolphin.cluster.names import ClusterNames, completed, merged_names
from dolphin.engine import adeffect, catalog
from dolphin.engine.aggregates import AggregateResult, FieldPart, ValueSum, check_request, stored_sum
from dolphin.engine.api import Offload
from dolphin.engine.audiences import check_name
from dolphin.engine.engine import EngineLimits, bounded
from dolphin.engine.events import EventIndex
from dolphin.engine.exchange import imported_description, require_integer_ids
from dolphin.engine.profile import dimension_profile
from dolphin.engine.results import (
    AudienceInfo,
    AudiencePage,
    BatchCountResult,
    BitmapExport,
    CountResult,
    DimensionInfo,
    DimensionPage,
    ExplainResult,
    ExportPage,
    OverlapResult,
    PlanTrace,
    ProfileResult,
    ReloadResult,
    ServedVersion,
    ShardStatusInfo,
    StatusInfo,
    ValueCounts,
    ValueCountsResult,
)
from dolphin.errors import (
    AudienceNotFoundError,
    DolphinError,
    InvalidArgumentError,
    NotFoundError,
    PreconditionError,
    QueryLimitError,
    QueryTypeError,
    UnknownDimensionError,
)
from dolphin.query import format_expr, parse
from dolphin.storage import DimensionKind
from dolphin.storage.bitmap_formats import BitmapFormat
from dolphin.storage.cluster_file import PINS_FILE, newest_batches, read_batches, read_cluster, write_batches
from dolphin.v1 import adeffect_service_pb2 as ad_pb
from dolphin.v1 import admin_service_pb2 as admin_pb
from dolphin.v1 import audience_service_pb2 as aud_pb
from dolphin.v1 import shard_service_pb2 as shard_pb

T = TypeVar("T")


def added_up(parts: list[dict[str, int]]) -> dict[str, int]:
    """Return the per-key sums of shards' figures."""
    total: dict[str, int] = {}
    for part in parts:
        for key, value in part.items():
            total[key] = total.get(key, 0) + int(value)
    return total
ALL_VALUES = 1 << 30  # top_k asked of shards: every value, so the front's cut is exact
NAMES_REFRESH_SECONDS = 1.0  # an unknown name re-reads the shards' names at most this often
RELOAD_SECONDS = 600.0  # opening a large shard's version (every file read and checked) may take minutes
log = logging.getLogger("dolphin.cluster")


class VersionGate:
    """Many questions at once, or one reload alone: what makes a cluster version change atomically."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writing = False

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Hold the served versions steady for one question."""
        with self._cond:
            while self._writing:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    def try_enter(self) -> bool:
        """Start reading without waiting: False while a reload holds the gate (then read with reading())."""
        with self._cond:
            if self._writing:
                return False
            self._readers += 1
            return True

    def leave(self) -> None:
        """End a read started by try_enter."""
        with self._cond:
            self._readers -= 1
            if not self._readers:
                self._cond.notify_all()

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Wait for the questions in flight, keep new ones out, and let them in once the versions moved."""
        with self._cond:
            while self._writing:
                self._cond.wait()
            self._writing = True
            while self._readers:
                self._cond.wait()
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()


def _value_counts(message: shard_pb.ValueCountsResponse) -> ValueCountsResult:
    return ValueCountsResult(
        message.audience_count, message.population_count,
        [ValueCounts(d.dimension, d.kind, list(d.values), list(d.tag_sizes), list(d.audience_counts), d.user_count)
         for d in message.dimensions],
        _campaigns(message), message.snapshot_version)


def _campaigns(message: shard_pb.ValueCountsResponse) -> dict[str, dict[str, list[str]]]:
    out: dict[str, dict[str, list[str]]] = {}
    for row in message.campaigns:
        out.setdefault(row.campaign, {})[row.event] = list(row.days)
    return out


def merged_value_counts(parts: list[ValueCountsResult], with_audience: bool) -> ValueCountsResult:
    """Return shards' value counts added up: one entry per value, sorted, sizes and audience counts summed."""
    dimensions = []
    for i, first in enumerate(parts[0].dimensions if parts else []):
        sizes: dict[str, int] = {}
        inside: dict[str, int] = {}
        kind = ""
        for part in parts:
            d = part.dimensions[i]
            kind = kind or d.kind
            for value, size in zip(d.values, d.tag_sizes, strict=True):
                sizes[value] = sizes.get(value, 0) + size
            for value, count in zip(d.values, d.audience_counts, strict=False):
                inside[value] = inside.get(value, 0) + count
        values = sorted(sizes)
        dimensions.append(ValueCounts(first.dimension, kind, values, [sizes[v] for v in values],
                                      [inside.get(v, 0) for v in values] if with_audience else [],
                                      sum(p.dimensions[i].user_count for p in parts)))
    names = merged_names([ClusterNames({}, p.campaigns) for p in parts])
    return ValueCountsResult(sum(p.audience_count for p in parts), sum(p.population_count for p in parts),
                             dimensions, names.campaigns, min((p.snapshot_version for p in parts), default=0))


def _summed_values(kinds: dict[str, DimensionKind], per_shard: list[Any]) -> tuple[ValueSum, ...]:
    """Return value sums added over shards (each shard's FieldSum list in field order; exact sums from text)."""
    out = []
    for i, (name, kind) in enumerate(kinds.items()):
        sums = [shard[i] for shard in per_shard]
        out.append(ValueSum(name, kind, sum(s.count for s in sums),
                            sum(stored_sum(kind, s.sum.exact) for s in sums if s.count)))
    return tuple(out)


def _numeric(kind: str) -> bool:
    """True when a kind (as the shards name it) is a numeric field's."""
    return kind not in ("single", "multi", "")


def _summed(answers: list[aud_pb.CountResponse]) -> CountResult:
    """Return the count over shards: their counts added, at the lowest version."""
    return CountResult(sum(a.count for a in answers), min(a.snapshot_version for a in answers))


def _audience(message: aud_pb.Audience, count: int, unknown_ids: int = 0) -> AudienceInfo:
    return AudienceInfo(message.name, message.expression, count, message.snapshot_version,
                        message.created_at.ToNanoseconds() / 1e9, unknown_ids)


def _plan(node: aud_pb.PlanNode) -> PlanTrace:
    return PlanTrace(node.op, node.detail, node.cardinality, node.elapsed_us, [_plan(c) for c in node.children])


class ClusterEngine:
    """EngineApi over the shard servers of a cluster; thread-safe."""

    def __init__(self, channels: ShardChannels, limits: EngineLimits | None = None, data_root: str = "") -> None:
        self.channels = channels
        self.limits = limits or EngineLimits()
        self.data_root = data_root
        self.gate = VersionGate()
        self._names: ClusterNames | None = None
        self._events: EventIndex | None = None
        self._names_read_at = 0.0
        self._names_lock = threading.Lock()
        self._completed: dict[str, str] = {}  # expression -> what shards evaluate

    # -- state ----------------------------------------------------------------
    @property
    def ready(self) -> bool:
        """True once every shard serves a snapshot."""
        try:
            return all(s.snapshot_version > 0 for s in self._fan(lambda s: s.admin.Status, admin_pb.StatusRequest()))
        except DolphinError:
            return False

    def _fan(self, call: Callable[[ShardStubs], Any], request: Any, deadline: float | None = None) -> list[Any]:
        return self.channels.fan_out(call, request, deadline)

    def _read(self, call: Callable[[ShardStubs], Any], request: Any, deadline: float | None = None) -> list[Any]:
        with self.gate.reading():
            return self.channels.fan_out(call, request, deadline)

    def reload(self) -> ReloadResult:
        """Move every shard to the last completed load, with no question in flight; unchanged when served."""
        root = pathlib.Path(self.data_root)
        if read_batches(root, PINS_FILE) == newest_batches(root, read_cluster(root)):
            version = self.status().snapshot_version  # shards move only when told to, or restart on their pin
            return ReloadResult(version, version, False)
        return self.serve_newest()

    def serve_newest(self) -> ReloadResult:
        """Move every shard to the last completed load, with no question in flight (atomic for readers).

        Two phases: every shard opens and verifies its version of the load first, and nothing moves when one
        cannot; then the pins are written (the decision) and every shard moves. A shard that dies in between
        reads its pin when Ray restarts it, so it comes back on the new load too.
        """
        root = pathlib.Path(self.data_root)
        layout = read_cluster(root)
        with self.gate.writing():
            target = newest_batches(root, layout)
            deadline = time.monotonic() + RELOAD_SECONDS
            try:
                self._fan(lambda s: s.shard.PrepareVersion,
                          [shard_pb.PrepareVersionRequest(batch_version=v) for v in target], deadline)
                if read_batches(root, PINS_FILE) != target:
                    write_batches(root, PINS_FILE, target)
            except (DolphinError, OSError):
                self._give_up_prepared()
                raise
            answers = self._fan(lambda s: s.shard.ServeVersion,
                                [shard_pb.ServeVersionRequest(batch_version=v) for v in target], deadline)
        self._refresh_names(force=True)
        log.info("cluster serves batch versions %s", target)
        return ReloadResult(min(a.previous_version for a in answers), min(a.snapshot_version for a in answers),
                            any(a.changed for a in answers))

    def _give_up_prepared(self) -> None:
        """Let every shard drop the version it opened for a reload that will not happen (best effort)."""
        try:
            self._fan(lambda s: s.shard.PrepareVersion, shard_pb.PrepareVersionRequest(batch_version=0))
        except DolphinError as exc:
            log.warning("a shard kept the version it opened for a failed reload until the next one: %s", exc)

    def prepare_version(self, batch: int) -> int:
        """Only shards hold batch versions: PreconditionError."""
        raise PreconditionError("PrepareVersion is for cluster shards; this is a cluster front")

    def serve_version(self, batch: int) -> ServedVersion:
        """Only shards hold batch versions: PreconditionError."""
        raise PreconditionError("ServeVersion is for cluster shards; this is a cluster front")

    def status(self) -> StatusInfo:
        """Shards' status added up (versions: the lowest)."""
        answers = self._fan(lambda s: s.admin.Status, admin_pb.StatusRequest())
        names = self.names()
        return StatusInfo(
            min(a.snapshot_version for a in answers), sum(a.users for a in answers), sum(a.tags for a in answers),
            len(names.kinds), sum(a.bitmap_bytes for a in answers), sum(a.rss_bytes for a in answers),
            min(a.snapshot_built_at.ToNanoseconds() / 1e9 for a in answers),
            min(a.loaded_at.ToNanoseconds() / 1e9 for a in answers), self.data_root,
            min(a.saved_audiences for a in answers),
            tuple(f"shard {k}: {v}" for k, a in enumerate(answers) for v in a.skipped_versions),
            tuple(ShardStatusInfo(k, t, a.snapshot_version, a.users, a.tags, a.bitmap_bytes, a.rss_bytes)
                  for k, (a, t) in enumerate(zip(answers, self.channels.targets(), strict=True))),
            cache_bytes=added_up([dict(a.cache_bytes) for a in answers]),
            read_cache_limit_bytes=sum(a.read_cache_limit_bytes for a in answers))

    # -- names ------------------------------------------------------------------
    def names(self) -> ClusterNames:
        """Return the names every shard knows together (read once, then again after a reload or a miss)."""
        if self._names is None:
            self._refresh_names(force=True)
        assert self._names is not None
        return self._names

    @functools.cached_property
    def id_type(self) -> str:
        """Return the cluster's user ID type ("int64" or "string"), fixed when its root was created."""
        return read_cluster(pathlib.Path(self.data_root)).id_type

    def forget_names(self) -> None:
        """Let the next unknown name re-read the shards' names at once (a batch created one)."""
        self._names_read_at = 0.0

    def _refresh_names(self, *, force: bool = False) -> bool:
        """Re-read the shards' names (at most once a second unless forced); True when they were read."""
        with self._names_lock:
            if not force and time.monotonic() - self._names_read_at < NAMES_REFRESH_SECONDS:
                return False
            parts = [_value_counts(a) for a in self._fan(lambda s: s.shard.ValueCounts,
                                                          shard_pb.ValueCountsRequest())]
            self._names = merged_names([ClusterNames({d.dimension: d.kind for d in p.dimensions}, p.campaigns)
                                        for p in parts])
            self._events = self._names.events
            self._names_read_at = time.monotonic()
            self._completed = {}
            return True

    def _checked(self, check: Callable[[ClusterNames, EventIndex], T]) -> T:
        """Run a check against the names; on a miss, re-read them once and check again."""
        names = self.names()
        assert self._events is not None
        try:
            return check(names, self._events)
        except (UnknownDimensionError, NotFoundError, InvalidArgumentError):  # unknown name, or a grown span
            if not self._refresh_names():
                raise
            assert self._names is not None and self._events is not None
            return check(self._names, self._events)

    def shard_expression(self, expression: str) -> str:
        """Return the expression the shards evaluate: parsed and checked here, event() dates filled in."""
        cached = self._completed.get(expression)
        if cached is not None:
            return cached
        expr = parse(expression, self.limits.query)
        text = self._checked(lambda names, events: format_expr(completed(expr, names, events)))
        if len(self._completed) > 4096:
            self._completed = {}
        self._completed[expression] = text
        return text

    def optional_expression(self, expression: str) -> str:
        """Return shard_expression of a non-empty expression, and empty for an empty one."""
        return self.shard_expression(expression) if expression.strip() else ""

    def _check_dimensions(self, dimensions: list[str]) -> None:
        def check(names: ClusterNames, _events: EventIndex) -> None:
            for name in dimensions:
                names.check_dimension(name)

        self._checked(check)

    def _check_events(self, campaign: str | None, events: list[str]) -> None:
        def check(_names: ClusterNames, index: EventIndex) -> None:
            for event in events:
                index.check(campaign, event)

        self._checked(check)

    # -- audience questions -----------------------------------------------------
    def count(self, expression: str, *, deadline: float | None = None) -> CountResult:
        """Return the number of users matching an expression, over every shard."""
        request = aud_pb.CountRequest(expression=self.shard_expression(expression))
        return _summed(self._read(lambda s: s.audiences.Count, request, deadline))

    async def count_async(self, expression: str, *, deadline: float | None = None) -> CountResult:
        """count, from the event loop: one grpc.aio fan-out and no thread hop.

        An expression seen for the first time, or a reload holding the gate, takes count's path on a worker
        thread instead: checking names and waiting for a reload block.
        """
        subject = self._completed.get(expression)
        if subject is None or not self.gate.try_enter():
            return await asyncio.get_running_loop().run_in_executor(
                None, functools.partial(self.count, expression, deadline=deadline))
        try:
            answers = await self.channels.fan_out_async(lambda s: s.audiences.Count,
                                                        aud_pb.CountRequest(expression=subject), deadline)
        finally:
            self.gate.leave()
        return _summed(answers)

    def batch_count(self, expressions: list[str], *, deadline: float | None = None) -> BatchCountResult:
        """Return the counts of many expressions, one fan-out for all of them."""
        if len(expressions) > self.limits.max_batch_expressions:
            raise QueryLimitError("BatchCount expression count", len(expressions), self.limits.max_batch_expressions,
                                  "max_batch_expressions")
        request = aud_pb.BatchCountRequest(expressions=[self.shard_expression(e) for e in expressions])
        answers = self._read(lambda s: s.audiences.BatchCount, request, deadline)
        counts = np.sum([np.array(a.counts, dtype=np.int64) for a in answers], axis=0) if expressions else []
        return BatchCountResult([int(c) for c in counts], min(a.snapshot_version for a in answers))

    def export_cursor(self, expression: str, *, page_size: int = 0, page_token: str = "",
                      deadline: float | None = None, integers: bool = False, order_by: str = "",
                      descending: bool = False) -> ClusterExport | OrderedClusterExport:
        """Count the audience on every shard, then page through shard 0's users, shard 1's, and so on; with
        order_by, merge every shard's ordered export (ties: the lower shard first)."""
        size = bounded(page_size, 1000, self.limits.max_page_size, "export page size", "max_page_size")
        if integers and self.id_type != "int64":
            raise PreconditionError("this data's user IDs are strings, not integers: export them as text "
                                    "(ID_ENCODING_TEXT)")
        subject = self.shard_expression(expression)
        kind = self._numeric_kinds([order_by])[order_by] if order_by else None
        answers = self._read(lambda s: s.audiences.Count, aud_pb.CountRequest(expression=subject), deadline)
        versions = [int(a.snapshot_version) for a in answers]
        totals = [int(a.count) for a in answers]
        if kind is not None:
            order = aud_pb.ExportOrder(field=order_by, descending=descending)
            states = read_ordered_token(page_token, versions, ordered_subject(subject, order)) if page_token else [
                ("", 0, False)] * len(versions)
            return OrderedClusterExport(self.channels, subject, size, totals, versions, states, order, kind,
                                        deadline, integers)
        shard, shard_token = read_token(page_token, versions, subject) if page_token else (0, "")
        return ClusterExport(self.channels, subject, size, totals, versions, shard, shard_token, deadline, integers)

    async def open_export_async(self, expression: str, offload: Offload, *, page_size: int = 0,
                                page_token: str = "", deadline: float | None = None, integers: bool = False,
                                order_by: str = "", descending: bool = False
                                ) -> tuple[ClusterExport | OrderedClusterExport, ExportPage]:
        """export_cursor and its first page through offload: both wait on shards through blocking stubs."""
        def opened() -> tuple[ClusterExport | OrderedClusterExport, ExportPage]:
            cursor = self.export_cursor(expression, page_size=page_size, page_token=page_token, deadline=deadline,
                                        integers=integers, order_by=order_by, descending=descending)
            return cursor, cursor.next_page()

        return await offload(opened)

    def value_counts(self, expression: str = "", *, dimensions: list[str] | None = None,
                     deadline: float | None = None) -> ValueCountsResult:
        """Return every shard's value counts added up."""
        names = list(dict.fromkeys(dimensions)) if dimensions else list(self.names().kinds)
        self._check_dimensions(names)
        return self._merged_counts(self.optional_expression(expression), names, deadline)

    def _merged_counts(self, subject: str, names: list[str], deadline: float | None) -> ValueCountsResult:
        request = shard_pb.ValueCountsRequest(expression=subject, dimensions=names)
        parts = [_value_counts(a) for a in self._read(lambda s: s.shard.ValueCounts, request, deadline)]
        return merged_value_counts(parts, bool(subject))

    def profile(self, expression: str, *, dimensions: list[str] | None = None, top_k: int = 0,
                numeric_cuts: dict[str, list[str]] | None = None, deadline: float | None = None) -> ProfileResult:
        """Return the TGI profile of an audience, from every value's counts summed over shards; numeric fields
        from their buckets' counts summed over shards."""
        top_k = bounded(top_k, 20, self.limits.max_top_k, "profile top_k", "max_top_k")
        kinds = self.names().kinds
        names = list(dict.fromkeys(dimensions)) if dimensions else [n for n in kinds if not _numeric(kinds[n])]
        if len(names) > self.limits.max_profile_dimensions:
            raise QueryLimitError("profile dimension count", len(names), self.limits.max_profile_dimensions,
                                  "max_profile_dimensions")
        self._check_dimensions(names)
        kinds = self.names().kinds
        numeric = [n for n in names if _numeric(kinds[n])]
        for name in numeric_cuts or {}:
            if name not in numeric:
                raise InvalidArgumentError(f'numeric_cuts names "{name}", which is not a numeric field of this '
                                           "profile's dimensions")
        subject = self.shard_expression(expression)
        merged = self._merged_counts(subject, [n for n in names if n not in numeric], deadline)
        by_name = {}
        for d in merged.dimensions:
            counts = {v: c for v, c in zip(d.values, d.audience_counts, strict=True) if c}
            sizes = dict(zip(d.values, d.tag_sizes, strict=True))
            by_name[d.dimension] = dimension_profile(d.dimension, counts, sizes, merged.audience_count,
                                                     merged.population_count, top_k)
        audience_count, population = merged.audience_count, merged.population_count
        if numeric and not merged.dimensions:
            counted = self._read(lambda s: s.audiences.BatchCount, aud_pb.BatchCountRequest(
                expressions=[subject, "ALL"]), deadline)
            audience_count, population = (sum(a.counts[i] for a in counted) for i in range(2))
        fetch = self._parts_fetch(deadline)
        for name in numeric:
            by_name[name] = cluster_numeric.numeric_profile(
                fetch, subject, name, DimensionKind(kinds[name]), (numeric_cuts or {}).get(name), audience_count,
                population)
        return ProfileResult(audience_count, population, [by_name[n] for n in names], merged.snapshot_version)

    def _parts_fetch(self, deadline: float | None) -> cluster_numeric.Fetch:
        """Return a function that asks every shard for FieldParts (under the version gate, within the budget)."""
        return lambda request: self._read(lambda s: s.shard.FieldParts, request, deadline)

    def _numeric_kinds(self, fields: list[str]) -> dict[str, DimensionKind]:
        """Return the kinds of numeric fields; the single node's errors for unknown names and tag dimensions."""
        self._check_dimensions(fields)
        kinds = self.names().kinds
        for name in fields:
            if not _numeric(kinds[name]):
                raise QueryTypeError(None, f'"{name}" is a tag dimension, not a numeric field; profile it instead')
        return {name: DimensionKind(kinds[name]) for name in fields}

    def aggregate(self, expression: str, fields: list[str], *, percentiles: list[float] | None = None,
                  cut_points: list[str] | None = None, statistics: list[str] | None = None,
                  deadline: float | None = None) -> AggregateResult:
        """Return numeric fields' figures from exact partial aggregates summed over shards (module numeric)."""
        percentiles, cut_points = list(percentiles or []), list(cut_points or [])
        wanted = check_request(percentiles, cut_points, list(statistics or []))
        if not fields:
            raise InvalidArgumentError("Aggregate needs at least one numeric field (see ListDimensions)")
        names = list(dict.fromkeys(fields))
        if len(names) > self.limits.max_profile_dimensions:
            raise QueryLimitError("Aggregate field count", len(names), self.limits.max_profile_dimensions,
                                  "max_profile_dimensions")
        kinds = self._numeric_kinds(names)
        subject = self.shard_expression(expression)
        return cluster_numeric.aggregate(self._parts_fetch(deadline), subject, kinds, percentiles, cut_points,
                                         wanted)

    def field_parts(self, expression: str, fields: list[str], *, thresholds: dict[str, list[int]] | None = None,
                    sums: bool = False, extremes: bool = False, squares: bool = False, sizes: bool = False,
                    deadline: float | None = None) -> tuple[int, list[FieldPart], int]:
        """Only shards hold partial aggregates: PreconditionError."""
        raise PreconditionError("FieldParts is for cluster shards; this is a cluster front")

    def overlap(self, expressions: list[str], *, deadline: float | None = None) -> OverlapResult:
        """Return audience sizes and pairwise intersections, summed over shards."""
        limit = self.limits.max_overlap_expressions
        if len(expressions) > limit:
            raise QueryLimitError("Overlap expression count", len(expressions), limit, "max_overlap_expressions")
        if len(expressions) < 2:
            raise InvalidArgumentError(f"Overlap needs at least 2 expressions, got {len(expressions)}")
        request = aud_pb.OverlapRequest(expressions=[self.shard_expression(e) for e in expressions])
        answers = self._read(lambda s: s.audiences.Overlap, request, deadline)
        counts = [sum(a.counts[i] for a in answers) for i in range(len(expressions))]
        pairs = [(x.first, x.second, sum(a.intersections[k].count for a in answers))
                 for k, x in enumerate(answers[0].intersections)]
        return OverlapResult(counts, pairs, min(a.snapshot_version for a in answers))

    def explain(self, expression: str, *, deadline: float | None = None) -> ExplainResult:
        """Return each shard's evaluated plan under one fan-out node that times the whole."""
        started = time.perf_counter()
        subject = self.shard_expression(expression)
        answers = self._read(lambda s: s.audiences.Explain, aud_pb.ExplainRequest(expression=subject), deadline)
        elapsed = (time.perf_counter() - started) * 1e6
        total = sum(a.count for a in answers)
        shards = [PlanTrace("shard", f"shard {k} at {t}", a.count, a.root.elapsed_us, [_plan(a.root)])
                  for k, (a, t) in enumerate(zip(answers, self.channels.targets(), strict=True))]
        root = PlanTrace("fan-out", f"{len(answers)} shards in parallel, summed", total, elapsed, shards)
        return ExplainResult(root, total, min(a.snapshot_version for a in answers),
                             format_expr(parse(expression, self.limits.query)))

    # -- saved audiences --------------------------------------------------------
    def save_audience(self, name: str, expression: str, *, overwrite: bool = False) -> AudienceInfo:
        """Save @name on every shard; if one refuses, the shards that saved it drop it again (unless replaced)."""
        check_name(name)
        subject = self.shard_expression(expression)
        # the user's text is kept unless event() dates had to be filled in (a shard's own span differs)
        stored = expression if subject == format_expr(parse(expression, self.limits.query)) else subject
        request = aud_pb.SaveAudienceRequest(name=name, expression=stored, overwrite=overwrite)
        saved = self._saved_everywhere(name, [request] * self.channels.count, overwrite)
        return _audience(saved[0], sum(a.count for a in saved))

    def _saved_everywhere(self, name: str, requests: list[aud_pb.SaveAudienceRequest], overwrite: bool
                          ) -> list[aud_pb.Audience]:
        """Send shard k requests[k] and return every shard's Audience; all or nothing: when one fails, a new
        name is deleted again from the shards that saved it."""
        with self.gate.reading():
            futures = [self.channels.stubs(k).audiences.SaveAudience.future(request)
                       for k, request in enumerate(requests)]
            try:
                return self._collect(futures)
            except DolphinError:
                if not overwrite:
                    self._forget(name, futures)
                raise

    def export_bitmap(self, expression: str, fmt: BitmapFormat, *, wide: bool = False,
                      deadline: float | None = None) -> BitmapExport:
        """Return the audience as one bitmap: each shard's portable bitmap of its users, merged."""
        require_integer_ids(self.id_type, "bitmap export")
        subject = self.shard_expression(expression)
        with self.gate.reading():
            return merged_bitmap(self.channels, subject, fmt, wide, deadline)

    def save_audience_bitmap(self, name: str, data: bytes, fmt: BitmapFormat, *, overwrite: bool = False
                             ) -> AudienceInfo:
        """Save a bitmap as @name: each shard saves the IDs it owns (all-or-nothing, as save_audience)."""
        check_name(name)
        require_integer_ids(self.id_type, "bitmap import")
        parts = shard_parts(data, fmt, self.channels.count)
        saved = self._saved_everywhere(name, [aud_pb.SaveAudienceRequest(
            name=name, bitmap=part, bitmap_format=aud_pb.EXPORT_FORMAT_ROARING_PORTABLE, overwrite=overwrite)
            for part in parts], overwrite)
        info = _audience(saved[0], sum(a.count for a in saved), sum(a.unknown_ids for a in saved))
        return dataclasses.replace(info, expression=imported_description(fmt))

    def _collect(self, futures: list[Any]) -> list[Any]:
        """Return every future's answer, or raise the first shard's error once all are done."""
        return self.channels.answers(list(range(len(futures))), futures, 0.0)

    def _forget(self, name: str, futures: list[Any]) -> None:
        """Delete @name on the shards where saving it succeeded."""
        done = [k for k, f in enumerate(futures) if f.exception() is None]
        if done:
            try:
                self.channels.fan_out(lambda s: s.audiences.DeleteAudience, aud_pb.DeleteAudienceRequest(name=name),
                                      shards=done)
            except DolphinError:
                pass  # the shard that refused the save may also refuse this; the save's error is what matters

    def get_audience(self, name: str) -> AudienceInfo:
        """Return a saved audience; its count is summed over shards."""
        answers = self._read(lambda s: s.audiences.GetAudience, aud_pb.GetAudienceRequest(name=name))
        return _audience(answers[0], sum(a.count for a in answers), sum(a.unknown_ids for a in answers))

    def list_audiences(self, *, page_size: int = 0, page_token: str = "") -> AudiencePage:
        """Return a page of saved audiences, by name, counts summed over shards."""
        size = bounded(page_size, 100, 1000, "audience page size", "page_size")
        request = aud_pb.ListAudiencesRequest(page_size=size, page_token=page_token)
        answers = self._read(lambda s: s.audiences.ListAudiences, request)
        counts: dict[str, int] = {}
        unknown: dict[str, int] = {}
        for answer in answers:
            for a in answer.audiences:
                counts[a.name] = counts.get(a.name, 0) + a.count
                unknown[a.name] = unknown.get(a.name, 0) + a.unknown_ids
        return AudiencePage([_audience(a, counts[a.name], unknown[a.name]) for a in answers[0].audiences],
                            answers[0].next_page_token)

    def delete_audience(self, name: str) -> AudienceInfo:
        """Delete @name on every shard (NOT_FOUND only when no shard had it)."""
        with self.gate.reading():
            futures = [self.channels.stubs(k).audiences.DeleteAudience.future(aud_pb.DeleteAudienceRequest(name=name))
                       for k in range(self.channels.count)]
            try:
                self._collect(futures)
            except AudienceNotFoundError:
                if all(f.exception() is not None for f in futures):
                    raise
        return AudienceInfo(name, "", 0, 0, 0.0)

    # -- catalog -----------------------------------------------------------------
    def list_dimensions(self, *, page_size: int = 0, page_token: str = "", max_values: int = 0,
                        dimension: str = "") -> DimensionPage:
        """Return a page of dimensions, by name, with values ranked over every shard's counts."""
        size = bounded(page_size, 100, 1000, "dimension page size", "page_size")
        values = bounded(max_values, 100, 10000, "max_values", "max_values")
        if dimension:
            self._checked(lambda names, _events: names.check_listed(dimension))
        listed = [dimension] if dimension else list(self.names().kinds)
        page, token = catalog.page_of_names(listed, size, page_token)
        merged = self.value_counts(dimensions=page) if page else ValueCountsResult(0, 0, [], {}, 0)
        kinds = {d.dimension: DimensionKind(d.kind) for d in merged.dimensions if _numeric(d.kind)}
        fields = cluster_numeric.fetch_parts(self._parts_fetch(None), "ALL", kinds, {}, extremes=True,
                                             sizes=True).fields if kinds else {}
        infos = []
        for d in merged.dimensions:
            if d.dimension in fields:
                f = fields[d.dimension]
                bounds = (f.minimum, f.maximum) if f.minimum is not None and f.maximum is not None else None
                infos.append(DimensionInfo(d.dimension, d.kind, 0, f.count, [], bounds, f.bits, f.index_bytes))
                continue
            ranked = sorted(zip(d.values, d.tag_sizes, strict=True), key=lambda item: (-item[1], item[0]))
            infos.append(DimensionInfo(d.dimension, d.kind, len(d.values), d.user_count,
                                       [(v, int(c)) for v, c in ranked[:values]]))
        version = merged.snapshot_version or min(a.snapshot_version for a in self._fan(
            lambda s: s.admin.Status, admin_pb.StatusRequest()))
        return DimensionPage(infos, token, version)

    def list_campaigns(self) -> dict[str, dict[str, list[str]]]:
        """Return campaign -> event -> sorted days with data on any shard."""
        self._refresh_names()
        return self.names().campaigns

    def list_campaign_names(self, *, page_size: int = 0, page_token: str = "") -> tuple[list[str], str, int]:
        """Return (a page of campaign names, next token, snapshot version)."""
        size = bounded(page_size, 100, 1000, "campaign page size", "page_size")
        self._refresh_names()
        names, token = catalog.page_of_names(sorted(self.names().campaigns), size, page_token)
        version = min(a.snapshot_version for a in self._fan(lambda s: s.admin.Status, admin_pb.StatusRequest()))
        return names, token, version

    # -- ad effect ------------------------------------------------------------------
    def _days(self, start_date: str, end_date: str) -> tuple[str, str, list[str]]:
        return adeffect.day_range(start_date, end_date, self.limits.max_event_days)

    def funnel(self, campaign: str, stages: list[str], start_date: str, end_date: str = "", *,
               audience_expression: str = "", breakdown_dimension: str = "", top_k: int = 0,
               value_fields: list[str] | None = None, deadline: float | None = None) -> adeffect.FunnelResult:
        """Return a funnel from stage counts summed over shards; a breakdown ranks every value's sums."""
        start, end, _ = self._days(start_date, end_date)
        top_k = bounded(top_k, 20, self.limits.max_top_k, "funnel top_k", "max_top_k")
        if breakdown_dimension:
            self._check_dimensions([breakdown_dimension])
        if not 1 <= len(stages) <= 16:
            raise InvalidArgumentError(f"a funnel needs 1 to 16 stages, got {len(stages)}")
        self._check_events(campaign, stages)
        kinds = self._numeric_kinds(list(dict.fromkeys(value_fields or [])))
        request = ad_pb.FunnelRequest(campaign=campaign, stages=stages, start_date=start, end_date=end,
                                      audience_expression=self.optional_expression(audience_expression),
                                      breakdown_dimension=breakdown_dimension, top_k=ALL_VALUES,
                                      value_fields=list(kinds))
        answers = self._read(lambda s: s.adeffect.Funnel, request, deadline)
        counts = [sum(a.stages[i].count for a in answers) for i in range(len(stages))]
        segments: list[adeffect.FunnelSegment] = []
        if breakdown_dimension:
            sums: dict[str, np.ndarray] = {}
            for answer in answers:
                for seg in answer.segments:
                    sums[seg.value] = sums.get(seg.value, np.zeros(len(stages), dtype=np.int64)) + np.array(
                        seg.counts, dtype=np.int64)
            values = sorted(sums)
            table = np.array([sums[v] for v in values], dtype=np.int64).T.reshape(len(stages), len(values))
            segments = adeffect.ranked_segments(values, table, top_k)
        result_stages = adeffect.funnel_stages_of_counts(stages, counts)
        if kinds:
            result_stages = [dataclasses.replace(stage, values=_summed_values(kinds, [a.stages[i].value_sums
                                                                                       for a in answers]))
                             for i, stage in enumerate(result_stages)]
        return adeffect.FunnelResult(result_stages, segments, sum(a.audience_count for a in answers),
                                     min(a.snapshot_version for a in answers))

    def lift(self, campaign: str, exposure_event: str, outcome_event: str, start_date: str, end_date: str = "", *,
             audience_expression: str = "", value_fields: list[str] | None = None,
             deadline: float | None = None) -> adeffect.LiftResult:
        """Return the lift from exposed and unexposed counts summed over shards (one z-test over the sums)."""
        start, end, _ = self._days(start_date, end_date)
        self._check_events(campaign, [exposure_event, outcome_event])
        kinds = self._numeric_kinds(list(dict.fromkeys(value_fields or [])))
        request = ad_pb.LiftRequest(campaign=campaign, exposure_event=exposure_event, outcome_event=outcome_event,
                                    start_date=start, end_date=end,
                                    audience_expression=self.optional_expression(audience_expression),
                                    value_fields=list(kinds))
        answers = self._read(lambda s: s.adeffect.Lift, request, deadline)
        result = adeffect.lift_of_counts(sum(a.exposed for a in answers), sum(a.exposed_outcome for a in answers),
                                         sum(a.unexposed for a in answers), sum(a.unexposed_outcome for a in answers),
                                         min(a.snapshot_version for a in answers))
        if not kinds:
            return result
        return dataclasses.replace(
            result, exposed_values=_summed_values(kinds, [a.exposed_value_sums for a in answers]),
            unexposed_values=_summed_values(kinds, [a.unexposed_value_sums for a in answers]))

    def retention(self, campaign: str, cohort_event: str, return_event: str, start_date: str, end_date: str = "",
                  *, days: int = 7, deadline: float | None = None) -> tuple[list[adeffect.RetentionRow], int]:
        """Return the cohort table, summed over shards."""
        if not 1 <= days <= self.limits.max_event_days:
            raise InvalidArgumentError(f"days must be between 1 and {self.limits.max_event_days}, got {days}")
        start, end, _ = self._days(start_date, end_date)
        self._check_events(campaign, [cohort_event, return_event])
        request = ad_pb.RetentionRequest(campaign=campaign, cohort_event=cohort_event, return_event=return_event,
                                         start_date=start, end_date=end, days=days)
        answers = self._read(lambda s: s.adeffect.Retention, request, deadline)
        rows = [adeffect.RetentionRow(row.day, sum(a.rows[i].cohort for a in answers),
                                      [sum(a.rows[i].returned[n] for a in answers) for n in range(days)])
                for i, row in enumerate(answers[0].rows)]
        return rows, min(a.snapshot_version for a in answers)

    def trend(self, campaign: str, events: list[str], start_date: str, end_date: str = "", *,
              audience_expression: str = "", deadline: float | None = None
              ) -> tuple[list[adeffect.TrendSeries], int]:
        """Return reach per day of each event, summed over shards."""
        if not events:
            raise InvalidArgumentError("trend needs at least one event")
        start, end, _ = self._days(start_date, end_date)
        self._check_events(campaign or None, events)
        request = ad_pb.TrendRequest(campaign=campaign, events=events, start_date=start, end_date=end,
                                     audience_expression=self.optional_expression(audience_expression))
        answers = self._read(lambda s: s.adeffect.Trend, request, deadline)
        series = [adeffect.TrendSeries(s.event, list(s.days),
                                       [sum(a.series[i].counts[d] for a in answers) for d in range(len(s.days))])
                  for i, s in enumerate(answers[0].series)]
        return series, min(a.snapshot_version for a in answers)

    def split(self, expression: str, name: str, parts: list[tuple[str, float]], salt: str) -> list[AudienceInfo]:
        """Split on every shard with the same salt; each part is saved on every shard, counts summed.

        Shards bucket users by a hash of their external IDs, so the parts hold the users one node would pick.
        """
        names, shares = [p for p, _ in parts], [s for _, s in parts]
        adeffect.check_shares(names, shares)
        for part in names:
            check_name(f"{name}.{part}")
        request = ad_pb.SplitRequest(expression=self.shard_expression(expression), name=name, salt=salt,
                                     shares=[ad_pb.SplitShare(name=p, share=s) for p, s in parts])
        answers = self._read(lambda s: s.adeffect.Split, request)
        return [_audience(a, sum(x.audiences[i].count for x in answers)) for i, a in enumerate(answers[0].audiences)]

    def close(self) -> None:
        """Close the channels to the shards."""
        self.channels.close()

