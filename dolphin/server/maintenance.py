"""Health (per service, NOT_SERVING until the first snapshot) and server reflection (v1alpha, for grpcurl).

Reflection serves Dolphin's files from the shipped dolphin.protoset, which keeps the .proto comments, so
`grpcurl describe` shows the API documentation; the runtime descriptors drop comments.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from dolphin.server.registration import WrappingRegistrar
from dolphin.v1 import (
    adeffect_service_pb2,
    admin_service_pb2,
    audience_service_pb2,
    catalog_service_pb2,
    ingest_service_pb2,
    lookalike_service_pb2,
)

SERVICE_NAMES = [
    audience_service_pb2.DESCRIPTOR.services_by_name["AudienceService"].full_name,
    catalog_service_pb2.DESCRIPTOR.services_by_name["CatalogService"].full_name,
    admin_service_pb2.DESCRIPTOR.services_by_name["AdminService"].full_name,
    lookalike_service_pb2.DESCRIPTOR.services_by_name["LookalikeService"].full_name,
    adeffect_service_pb2.DESCRIPTOR.services_by_name["AdEffectService"].full_name,
]
ADMIN_SERVICE = SERVICE_NAMES[2]
HEALTH_SERVICE = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
INGEST_SERVICE = ingest_service_pb2.DESCRIPTOR.services_by_name["IngestService"].full_name
# AdminService answers before the first snapshot (Status, Reload); the others need data.
DATA_SERVICES = [name for name in SERVICE_NAMES if name != ADMIN_SERVICE]


def add_health(server: grpc.aio.Server | WrappingRegistrar) -> HealthServicer:
    """Register the health service."""
    health = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    return health


async def set_serving(health: HealthServicer, ready: bool) -> None:
    """Publish whether data services (and the server as a whole, "") can answer queries."""
    state = health_pb2.HealthCheckResponse.SERVING if ready else health_pb2.HealthCheckResponse.NOT_SERVING
    for name in ["", *DATA_SERVICES]:
        await health.set(name, state)
    await health.set(ADMIN_SERVICE, health_pb2.HealthCheckResponse.SERVING)


async def set_ingest_serving(health: HealthServicer, taking_batches: bool) -> None:
    """Publish whether IngestService takes batches (NOT_SERVING when off or while the data dir is full)."""
    state = health_pb2.HealthCheckResponse.SERVING if taking_batches else health_pb2.HealthCheckResponse.NOT_SERVING
    await health.set(INGEST_SERVICE, state)


def documented_files() -> dict[str, descriptor_pb2.FileDescriptorProto]:
    """Return the shipped FileDescriptorProtos, with source comments, by file name."""
    raw = resources.files("dolphin.v1").joinpath("dolphin.protoset").read_bytes()
    # Only Dolphin's own files: health is served as the installed package defines it.
    return {f.name: f for f in descriptor_pb2.FileDescriptorSet.FromString(raw).file if f.name.startswith("dolphin/")}


class _DocumentedFile:
    """A runtime FileDescriptor whose CopyToProto includes the comments from the protoset."""

    def __init__(self, descriptor: Any, sources: dict[str, descriptor_pb2.FileDescriptorProto]) -> None:
        self._descriptor = descriptor
        self._sources = sources
        self.name = descriptor.name

    @property
    def dependencies(self) -> list[_DocumentedFile]:
        return [_DocumentedFile(d, self._sources) for d in self._descriptor.dependencies]

    def CopyToProto(self, proto: descriptor_pb2.FileDescriptorProto) -> None:  # noqa: N802 (protobuf's name)
        source = self._sources.get(self.name)
        if source is None:
            self._descriptor.CopyToProto(proto)
        else:
            proto.CopyFrom(source)


class _DocumentedPool:
    """The default descriptor pool, answering file lookups with documented files."""

    def __init__(self) -> None:
        self._pool = descriptor_pool.Default()
        self._sources = documented_files()

    def FindFileByName(self, name: str) -> _DocumentedFile:  # noqa: N802
        return _DocumentedFile(self._pool.FindFileByName(name), self._sources)

    def FindFileContainingSymbol(self, symbol: str) -> _DocumentedFile:  # noqa: N802
        return _DocumentedFile(self._file_containing(symbol), self._sources)

    def _file_containing(self, symbol: str) -> Any:
        """Return the file defining symbol, methods included.

        The pool does not resolve a method's full name (`pkg.Service.Method`), so `grpcurl describe` of a
        method failed with "Symbol not found" (grpc/grpc#34743); a method is found through its service.
        """
        try:
            return self._pool.FindFileContainingSymbol(symbol)
        except KeyError:
            parent, _, method = symbol.rpartition(".")
            try:
                service = self._pool.FindServiceByName(parent)
            except KeyError:
                raise KeyError(symbol) from None
            if method not in service.methods_by_name:
                raise KeyError(symbol) from None
            return service.file

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)


def add_reflection(server: grpc.aio.Server) -> None:
    """Register v1alpha server reflection (what grpcurl 1.8.6 asks for)."""
    names = [*SERVICE_NAMES, INGEST_SERVICE, HEALTH_SERVICE, reflection.SERVICE_NAME]
    reflection.enable_server_reflection(names, server, pool=_DocumentedPool())
