"""Observability: Prometheus metrics per RPC and of the served snapshot, and one log line per slow or failed call.

Metric names follow the go-grpc-prometheus convention (grpc_server_handled_total{grpc_service, grpc_method,
grpc_code}, grpc_server_handling_seconds) plus dolphin_* gauges. Log lines carry the RPC, the status, the
duration and the request's expression; never metadata, so never tokens.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import grpc
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from dolphin.engine.api import EngineApi
from dolphin.stream.api import StreamApi

log = logging.getLogger("dolphin.calls")
BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class SnapshotCollector(Collector):
    """dolphin_* gauges read from the engine at scrape time."""

    def __init__(self, engine: EngineApi) -> None:
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        status = self.engine.status()
        age = time.time() - status.snapshot_built_at if status.snapshot_version else 0.0
        for name, text, value in (
            ("dolphin_snapshot_version", "Serving snapshot version (0 before the first)", status.snapshot_version),
            ("dolphin_snapshot_age_seconds", "Seconds since the serving snapshot was built", age),
            ("dolphin_users", "Known users (the population)", status.users),
            ("dolphin_tags", "Tag bitmaps served", status.tags),
            ("dolphin_bitmap_bytes", "Serialized size of the served tag bitmaps", status.bitmap_bytes),
            ("dolphin_saved_audiences", "Saved audiences", status.saved_audiences),
            ("dolphin_resident_memory_bytes", "Resident memory of the server process", status.rss_bytes),
            ("dolphin_snapshot_fallbacks", "Damaged newer versions skipped when the served one was opened",
             len(status.skipped_versions)),
            ("dolphin_read_cache_limit_bytes", "Budget the read caches share (--read-cache-mb)",
             status.read_cache_limit_bytes),
        ):
            yield GaugeMetricFamily(name, text, value=value)
        caches = GaugeMetricFamily("dolphin_cache_bytes", "Memory held by the read caches, by cache", labels=["cache"])
        for cache, size in sorted(status.cache_bytes.items()):
            caches.add_metric([cache], size)
        yield caches


class IngestCollector(Collector):
    """dolphin_ingest_* metrics read from the ingestor at scrape time (ingest lag included)."""

    def __init__(self, ingestor: StreamApi, budget: Any) -> None:
        self.ingestor = ingestor
        self.budget = budget

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        status = self.ingestor.status()
        stats = status.stats
        lag = time.time() - stats.last_applied_at if stats.last_applied_at else 0.0
        counters: tuple[tuple[str, str, float], ...] = (
            ("dolphin_ingest_batches", "Stream batches applied since start", stats.batches),
            ("dolphin_ingest_mutations", "Stream mutations applied since start", stats.mutations),
            ("dolphin_ingest_skipped_batches", "Replayed batches acked as skipped (offset already applied)",
             stats.skipped),
            ("dolphin_ingest_rejected_batches", "Batches rejected as invalid or too large", stats.rejected),
        )
        for name, text, value in counters:
            yield CounterMetricFamily(name, text, value=value)
        recovery = status.recovery
        gauges: tuple[tuple[str, str, float], ...] = (
            ("dolphin_ingest_seconds_since_last_batch", "Seconds since the newest applied batch entered the log "
             "(ingest lag when the producer is busy)", lag),
            ("dolphin_ingest_pending_bytes", "Bytes of received, unacknowledged batches", self.budget.used),
            ("dolphin_wal_position_bytes", "Write-ahead log position after the last applied batch",
             status.wal_position),
            ("dolphin_ingest_storage_full", "1 while the data dir refuses log writes", int(status.storage_full)),
            ("dolphin_wal_tail_truncations", "Torn or corrupt log tails cut at start-up",
             len(recovery.truncated) if recovery else 0),
        )
        for name, text, value in gauges:
            yield GaugeMetricFamily(name, text, value=value)


class CallObserver:
    """Counts, times and logs calls; one per server."""

    def __init__(self, engine: EngineApi, slow_ms: float, registry: CollectorRegistry | None = None, *,
                 ingestor: StreamApi | None = None, budget: Any = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.slow_seconds = slow_ms / 1000
        self.handled = Counter("grpc_server_handled_total", "RPCs completed, by status code",
                               ["grpc_service", "grpc_method", "grpc_code"], registry=self.registry)
        self.latency = Histogram("grpc_server_handling_seconds", "Time to complete an RPC, seconds",
                                 ["grpc_service", "grpc_method"], buckets=BUCKETS, registry=self.registry)
        self.registry.register(SnapshotCollector(engine))
        if ingestor is not None:
            self.registry.register(IngestCollector(ingestor, budget))

    def serve_http(self, host: str, port: int) -> None:
        """Expose /metrics on host:port (a daemon thread)."""
        start_http_server(port, addr=host, registry=self.registry)

    def record(self, service: str, method: str, code: grpc.StatusCode, seconds: float, request: Any,
               error: str = "") -> None:
        """Count a finished call; log it when it failed or was slow."""
        self.handled.labels(service, method, code.name).inc()
        self.latency.labels(service, method).observe(seconds)
        if code is grpc.StatusCode.OK and seconds < self.slow_seconds:
            return
        fields = {"rpc": f"{service}/{method}", "code": code.name, "duration_ms": round(seconds * 1e3, 3),
                  "expression": _expression(request), "error": error}
        level = logging.WARNING if code is not grpc.StatusCode.OK else logging.INFO
        log.log(level, "%s %s %.1f ms%s", fields["rpc"], code.name, seconds * 1e3,
                f": {error}" if error else " (slow)", extra=fields)


def _expression(request: Any) -> str:
    for field in ("expression", "seed_expression", "audience_expression"):
        value = getattr(request, field, None)
        if value:
            return str(value)[:1000]
    values = getattr(request, "expressions", None)
    return "; ".join(list(values)[:5])[:1000] if values else ""
