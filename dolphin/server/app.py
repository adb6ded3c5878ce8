"""Build and run the gRPC server: services, health, reflection, snapshot watching, graceful shutdown."""

from __future__ import annotations

import asyncio
import logging
import os
import pathlib
import signal
import ssl
import subprocess
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

import grpc
from grpc_health.v1 import health_pb2_grpc

from dolphin import __version__
from dolphin.config import Settings
from dolphin.engine import Engine, EngineLimits
from dolphin.engine.api import EngineApi
from dolphin.engine.memory import limit_malloc_arenas, map_large_allocations
from dolphin.errors import DolphinError, InvalidArgumentError
from dolphin.lookalike import Lookalike, LookalikeApi
from dolphin.server.adeffect_service import AdEffectServicer
from dolphin.server.admin_service import AdminServicer
from dolphin.server.audience_service import AudienceServicer
from dolphin.server.auth import AuthInterceptor, TokenStore
from dolphin.server.call_limits import ExpensiveCalls
from dolphin.server.catalog_service import CatalogServicer
from dolphin.server.ingest_service import IngestServicer
from dolphin.server.lookalike_service import LookalikeServicer
from dolphin.server.maintenance import HEALTH_SERVICE, add_health, add_reflection, set_ingest_serving, set_serving
from dolphin.server.observe import CallObserver
from dolphin.server.privacy import Floor
from dolphin.server.registration import WrappingRegistrar, dolphin_wrap
from dolphin.server.run_engine import run_engine
from dolphin.server.shard_service import ShardServicer
from dolphin.stream import FsyncPolicy, Ingestor, IngestSettings
from dolphin.stream.api import StreamApi
from dolphin.stream.read_priority import ReadPriority
from dolphin.v1 import (
    adeffect_service_pb2_grpc,
    admin_service_pb2_grpc,
    audience_service_pb2_grpc,
    catalog_service_pb2_grpc,
    ingest_service_pb2_grpc,
    lookalike_service_pb2_grpc,
    shard_service_pb2_grpc,
)

if TYPE_CHECKING:
    from dolphin.server.http_api import HttpApi

log = logging.getLogger("dolphin.server")
MAX_SEND_BYTES = 16 * 1024 * 1024
REUSE_PORT_ENV = "DOLPHIN_INTERNAL_REUSE_PORT"


LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
EXIT_WAL_FAILURE = 75  # EX_TEMPFAIL: the log failed to write or fsync; restart recovers every acked batch


def ingest_settings(settings: Settings) -> IngestSettings:
    """Return the stream settings, or raise InvalidArgumentError naming a bad one."""
    try:
        policy = FsyncPolicy.parse(settings.fsync)
    except ValueError as exc:
        raise InvalidArgumentError(f"setting fsync: {exc}") from None
    return IngestSettings(
        fsync=policy, max_batch_mutations=settings.max_batch_mutations,
        max_record_bytes=2 * settings.max_message_bytes + 1024, checkpoint_seconds=settings.checkpoint_seconds,
        wal_retention_seconds=settings.wal_retention_seconds,
        truncate_at_corruption=settings.wal_recovery == "truncate-at-corruption", keep_versions=settings.keep,
        keep_days=settings.keep_days,
    )


def _exit_on_wal_failure(exc: BaseException) -> None:
    """Stop at once: acked batches are in the log, and continuing could ack what was not written."""
    log.critical("exiting with status %d: write-ahead log failure: %s", EXIT_WAL_FAILURE, exc)
    logging.shutdown()
    os._exit(EXIT_WAL_FAILURE)


def _read(path: str, what: str) -> bytes:
    try:
        return pathlib.Path(path).read_bytes()
    except OSError as exc:
        raise InvalidArgumentError(f"{path}: cannot read the {what}: {exc.strerror}") from None


def server_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    """Return TLS credentials (mutual when a client CA is set), or None for plaintext."""
    if not settings.tls_cert and not settings.tls_key:
        if settings.tls_client_ca:
            raise InvalidArgumentError("--tls-client-ca needs --tls-cert and --tls-key")
        return None
    if not (settings.tls_cert and settings.tls_key):
        raise InvalidArgumentError("TLS needs both --tls-cert and --tls-key")
    pair = (_read(settings.tls_key, "TLS key"), _read(settings.tls_cert, "TLS certificate"))
    client_ca = _read(settings.tls_client_ca, "client CA bundle") if settings.tls_client_ca else None
    return grpc.ssl_server_credentials([pair], root_certificates=client_ca, require_client_auth=client_ca is not None)


def http_ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """Return the HTTP API's TLS context from the gRPC server's certificate (and client CA), or None."""
    if not (settings.tls_cert and settings.tls_key):
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(settings.tls_cert, settings.tls_key)
        if settings.tls_client_ca:
            context.load_verify_locations(settings.tls_client_ca)
            context.verify_mode = ssl.CERT_REQUIRED
    except (OSError, ssl.SSLError) as exc:
        raise InvalidArgumentError(f"the HTTP API cannot use the TLS files: {exc}") from None
    return context


def check_plaintext_allowed(settings: Settings) -> None:
    """Plaintext is for loopback; elsewhere it needs --insecure and is logged as a warning."""
    if settings.host in LOOPBACK_HOSTS:
        return
    if not settings.insecure:
        raise InvalidArgumentError(f"refusing plaintext gRPC on {settings.host}: give --tls-cert and --tls-key, "
                                   "or --insecure inside a trusted network")
    log.warning("serving plaintext gRPC on %s (--insecure): traffic and tokens are not encrypted", settings.host)


class DolphinServer:
    """A running server: the grpc.aio server, its engine and its health state."""

    def __init__(self, engine: EngineApi, settings: Settings, ingestor: StreamApi | None = None,
                 lookalike: LookalikeApi | None = None, reads: ReadPriority | None = None) -> None:
        """Serve an engine (one node's, or a cluster front's); lookalike None answers Lookalike with
        FAILED_PRECONDITION; reads: the read calls a stream writer in this process steps aside for."""
        self.engine = engine
        self.settings = settings
        self.ingestor = ingestor
        self.tokens = TokenStore(pathlib.Path(settings.auth_tokens)) if settings.auth_tokens else None
        # Decoding and reads first wrap each handler once (registration.py); auth, which reads every call's
        # metadata, is the one interceptor, and only with tokens: grpc.aio runs interceptors on every call.
        self.server = grpc.aio.server(interceptors=[AuthInterceptor(self.tokens)] if self.tokens else None, options=[
            ("grpc.max_receive_message_length", settings.max_message_bytes),
            ("grpc.max_send_message_length", MAX_SEND_BYTES),
            ("grpc.so_reuseport", 1 if os.environ.get(REUSE_PORT_ENV) == "1" else 0),
        ])
        registrar = WrappingRegistrar(self.server, dolphin_wrap(reads))
        expensive = ExpensiveCalls(settings.max_expensive_calls)
        self.lookalike = lookalike
        self.servicers = [
            AudienceServicer(engine, settings, expensive),
            CatalogServicer(engine, Floor(settings.min_reportable_count)),
            AdminServicer(engine, self.after_reload, __version__, ingestor, lookalike),
            AdEffectServicer(engine, settings, expensive),
            LookalikeServicer(self.lookalike, expensive, Floor(settings.min_reportable_count), self.tokens),
            IngestServicer(ingestor, settings.max_pending_bytes, self.publish_ingest_health),
            ShardServicer(engine, settings, lookalike if isinstance(lookalike, Lookalike) else None),
        ]
        for servicer, register in zip(self.servicers, (
            audience_service_pb2_grpc.add_AudienceServiceServicer_to_server,
            catalog_service_pb2_grpc.add_CatalogServiceServicer_to_server,
            admin_service_pb2_grpc.add_AdminServiceServicer_to_server,
            adeffect_service_pb2_grpc.add_AdEffectServiceServicer_to_server,
            lookalike_service_pb2_grpc.add_LookalikeServiceServicer_to_server,
            ingest_service_pb2_grpc.add_IngestServiceServicer_to_server,
            shard_service_pb2_grpc.add_ShardServiceServicer_to_server,
        ), strict=True):
            register(servicer, registrar)
        self.observer = CallObserver(engine, settings.slow_call_ms, ingestor=ingestor,
                                     budget=self.servicers[5].budget)  # type: ignore[attr-defined]
        for servicer in self.servicers:
            servicer.observer = self.observer  # type: ignore[attr-defined]
        self.health = add_health(registrar)
        self.health_server: grpc.aio.Server | None = None
        if settings.health_port:
            # Kubernetes gRPC probes speak neither TLS nor tokens: health alone, on its own plaintext port.
            self.health_server = grpc.aio.server()
            health_pb2_grpc.add_HealthServicer_to_server(self.health, self.health_server)
            if not self.health_server.add_insecure_port(f"{settings.host}:{settings.health_port}"):
                raise OSError(f"cannot listen on {settings.host}:{settings.health_port} (--health-port)")
        add_reflection(self.server)
        # ShardService is the cluster's own protocol, between the front and its shards: gRPC only.
        public = [(s.SERVICE, s) for s in self.servicers if not isinstance(s, ShardServicer)]  # type: ignore[attr-defined]
        self.http: HttpApi | None = None
        if settings.http_port:  # imported only then: aiohttp costs 11 MB of RSS
            from dolphin.server.http_api import HttpApi

            self.http = HttpApi([*public, (HEALTH_SERVICE, self.health)], self.tokens, settings.max_message_bytes,
                                reads)
        self.http_port = 0
        address = f"{settings.host}:{settings.port}"
        credentials = server_credentials(settings)
        if credentials is None:
            check_plaintext_allowed(settings)
            self.port = self.server.add_insecure_port(address)
        else:
            self.port = self.server.add_secure_port(address, credentials)
        if not self.port:
            raise OSError(f"cannot listen on {settings.host}:{settings.port}")

    async def after_reload(self) -> None:
        """Open the new version's vector index before the first Lookalike needs it, then publish health."""
        try:
            if self.lookalike is not None:
                await run_engine(self.lookalike.warm)
        except Exception:
            log.exception("cannot open the vector index; Lookalike will report the error")
        await self.publish_health()

    async def publish_health(self) -> None:
        """Set health from whether the engine serves a snapshot (and whether ingest takes batches)."""
        await set_serving(self.health, self.engine.ready)
        await self.publish_ingest_health()

    async def publish_ingest_health(self) -> None:
        """IngestService is SERVING while it takes batches: ingest on, the log writable."""
        ingestor = self.ingestor
        await set_ingest_serving(self.health, ingestor is not None and ingestor.accepting)

    async def watch_snapshots(self) -> None:
        """Reload whenever a newer snapshot version appears on disk."""
        while self.settings.watch_seconds > 0:
            await asyncio.sleep(self.settings.watch_seconds)
            try:
                result = await run_engine(self.engine.reload)  # also refreshes saved audiences
            except Exception:
                log.exception("snapshot reload failed; still serving the previous version")
                continue
            if result.changed:
                await self.after_reload()

    async def start(self) -> None:
        """Start serving; the first snapshot loads after the port is open, so health shows progress."""
        await self.server.start()
        if self.health_server is not None:
            await self.health_server.start()
        if self.http is not None:
            try:
                self.http_port = await self.http.start(self.settings.host, self.settings.http_port,
                                                       http_ssl_context(self.settings))
            except OSError as exc:
                raise OSError(f"cannot listen on {self.settings.host}:{self.settings.http_port} (--http-port): "
                              f"{exc.strerror or exc}") from None
        await self.publish_health()

    def listening(self, what: str) -> str:
        """Return the lines that tell where the server listens (tests and scripts read them)."""
        lines = [f"{what} on {self.settings.host}:{self.port}"]
        if self.http_port:
            scheme = "https" if self.settings.tls_cert else "http"
            lines.append(f"dolphin console and http api on {scheme}://{self.settings.host}:{self.http_port}/")
        return "\n".join(lines)

    async def stop(self, grace: float) -> None:
        """Go NOT_SERVING, then let in-flight calls finish within grace seconds."""
        await self.health.enter_graceful_shutdown()
        if self.http is not None:
            await self.http.stop()
        await self.server.stop(grace)
        if self.health_server is not None:
            await self.health_server.stop(0)


def build_server(engine: Engine, settings: Settings, ingestor: Ingestor | None = None) -> DolphinServer:
    """Return a server for one node's engine, bound but not started."""
    lookalike = Lookalike(engine, max_k=settings.max_lookalike_k, exact_pool_max=settings.lookalike_exact_pool)
    return DolphinServer(engine, settings, ingestor, lookalike, ingestor.reads if ingestor is not None else None)


async def _serve(settings: Settings) -> None:
    # Handlers first: a SIGTERM that arrives while the first snapshot loads must still drain and exit 0.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await serve_until(settings, stop, handle_sighup=True)


async def serve_until(settings: Settings, stop: asyncio.Event, *, handle_sighup: bool = False,
                      on_serving: Callable[[int], None] | None = None) -> None:
    """Serve settings.data_dir until stop is set, then drain, checkpoint and return.

    on_serving(port) is called once the first snapshot (if any) is served; a cluster shard waits for it.
    """
    loop = asyncio.get_running_loop()
    # one process owns the log: workers started by --workers N serve queries only
    ingestor = None if os.environ.get(REUSE_PORT_ENV) == "1" else Ingestor(
        settings.data_dir, ingest_settings(settings), on_fatal=_exit_on_wal_failure)
    engine = Engine(settings.data_dir, limits=EngineLimits.from_settings(settings), load=False, adopter=ingestor,
                    strict_names=not settings.cluster_shard)
    server = build_server(engine, settings, ingestor)
    if server.tokens is not None and handle_sighup:
        loop.add_signal_handler(signal.SIGHUP, server.tokens.reload)
    if settings.metrics_port:
        server.observer.serve_http(settings.host, settings.metrics_port)
    await server.start()
    print(server.listening("dolphin listening"), flush=True)
    if ingestor is not None:
        await run_engine(ingestor.start, engine)  # opens the newest version, replays the log, then serves it
    else:
        await run_engine(engine.reload)
    await server.after_reload()
    if engine.ready:
        log.info("serving snapshot %d", engine.status().snapshot_version)
    else:
        log.warning("no snapshot in %s yet; queries get UNAVAILABLE until one is loaded", settings.data_dir)
    if on_serving is not None:
        on_serving(server.port)
    watcher = asyncio.create_task(server.watch_snapshots())
    await stop.wait()
    log.info("shutting down: draining in-flight calls for up to %.0f s", settings.shutdown_grace)
    watcher.cancel()
    await server.stop(settings.shutdown_grace)
    if ingestor is not None:
        try:  # a checkpoint makes the next start fast; the log already makes the data durable
            await asyncio.wait_for(run_engine(ingestor.close), timeout=max(1.0, settings.shutdown_grace))
        except TimeoutError:
            log.warning("shutdown checkpoint did not finish in time; the next start replays the log")


def _serve_workers(settings: Settings) -> int:
    """Run `workers` server processes on one port (SO_REUSEPORT); forward SIGTERM; return the worst status."""
    if settings.port == 0:
        print("error: --workers above 1 needs a fixed --port", file=sys.stderr)
        return 2
    env = {**os.environ, REUSE_PORT_ENV: "1", "DOLPHIN_WORKERS": "1"}
    for name in settings.__dataclass_fields__:
        env[f"DOLPHIN_{name.upper()}"] = str(getattr(settings, name))
    env["DOLPHIN_WORKERS"] = "1"
    children = [subprocess.Popen([sys.executable, "-m", "dolphin", "serve"], env=env)
                for _ in range(settings.workers)]

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    return max(child.wait() for child in children)


# 0.1 ms: in five alternating pairs at 10M users (bench/stream.py; bench/README.md, issue 14 seventh pass) the
# 5-term count while ingesting had a median p50 of 3.39 ms against 4.29 at 0.5 ms, q1 2.07 against 2.68 ms, with
# no loss of ingest capacity.
GIL_SWITCH_SECONDS = 0.0001


def tune_server_process() -> None:
    """Set what a serving process needs of the interpreter and the allocator (a server, a cluster front, a shard).

    While the stream writer thread works, a query waits for the GIL up to the switch interval (5 ms by default),
    which set the count p50 under ingest; a shorter interval hands it over sooner. Malloc: see
    limit_malloc_arenas (it only caps arenas made after the call) and map_large_allocations.
    """
    sys.setswitchinterval(GIL_SWITCH_SECONDS)
    limit_malloc_arenas()
    map_large_allocations()


def serve(settings: Settings) -> int:
    """Run the server until SIGTERM or SIGINT; returns the exit status."""
    if settings.workers > 1:
        return _serve_workers(settings)
    tune_server_process()
    try:
        asyncio.run(_serve(settings))
    except (OSError, DolphinError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    # Drained and stopped: a second SIGTERM during interpreter exit must not turn a clean exit into a kill.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    return 0
