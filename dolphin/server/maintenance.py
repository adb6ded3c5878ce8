"""Health (per service, NOT_SERVING until the first snapshot) and server reflection (v1alpha, for grpcurl)."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from dolphin.v1 import admin_service_pb2, audience_service_pb2, catalog_service_pb2

SERVICE_NAMES = [
    audience_service_pb2.DESCRIPTOR.services_by_name["AudienceService"].full_name,
    catalog_service_pb2.DESCRIPTOR.services_by_name["CatalogService"].full_name,
    admin_service_pb2.DESCRIPTOR.services_by_name["AdminService"].full_name,
]
# AdminService answers before the first snapshot (Status, Reload); the others need data.
DATA_SERVICES = SERVICE_NAMES[:2]


def add_health(server: grpc.aio.Server) -> HealthServicer:
    """Register the health service; every name starts NOT_SERVING except AdminService."""
    health = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    return health


async def set_serving(health: HealthServicer, ready: bool) -> None:
    """Publish whether data services (and the server as a whole, "") can answer queries."""
    state = health_pb2.HealthCheckResponse.SERVING if ready else health_pb2.HealthCheckResponse.NOT_SERVING
    for name in ["", *DATA_SERVICES]:
        await health.set(name, state)
    await health.set(SERVICE_NAMES[2], health_pb2.HealthCheckResponse.SERVING)


def add_reflection(server: grpc.aio.Server) -> None:
    """Register v1alpha server reflection (what grpcurl 1.8.6 asks for)."""
    names = [*SERVICE_NAMES, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME]
    reflection.enable_server_reflection(names, server)
