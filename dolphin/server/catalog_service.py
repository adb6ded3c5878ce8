"""CatalogService: dimension listings."""

from __future__ import annotations

from typing import Any

import grpc

from dolphin.engine.api import EngineApi
from dolphin.server import convert
from dolphin.server.privacy import Floor
from dolphin.server.run_engine import run_engine
from dolphin.server.status import maps_errors
from dolphin.v1 import catalog_service_pb2 as pb
from dolphin.v1 import catalog_service_pb2_grpc as pb_grpc


class CatalogServicer(pb_grpc.CatalogServiceServicer):
    """Lists dimensions and values of the served snapshot."""

    SERVICE = pb.DESCRIPTOR.services_by_name["CatalogService"].full_name

    def __init__(self, engine: EngineApi, floor: Floor) -> None:
        self.engine = engine
        self.floor = floor

    @maps_errors
    async def ListDimensions(
        self, request: pb.ListDimensionsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ListDimensionsResponse:
        page = await run_engine(self.engine.list_dimensions, page_size=request.page_size,
                                page_token=request.page_token, max_values=request.max_values,
                                dimension=request.dimension)
        return convert.dimensions(page, self.floor)

    @maps_errors
    async def ListCampaigns(
        self, request: pb.ListCampaignsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ListCampaignsResponse:
        names, token, version = self.engine.list_campaign_names(page_size=request.page_size,
                                                                page_token=request.page_token)
        return convert.campaigns(names, self.engine.list_campaigns(), token, version)
