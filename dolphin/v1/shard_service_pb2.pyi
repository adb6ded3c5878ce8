from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ValueCountsRequest(_message.Message):
    __slots__ = ("expression", "dimensions")
    EXPRESSION_FIELD_NUMBER: _ClassVar[int]
    DIMENSIONS_FIELD_NUMBER: _ClassVar[int]
    expression: str
    dimensions: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, expression: _Optional[str] = ..., dimensions: _Optional[_Iterable[str]] = ...) -> None: ...

class DimensionValueCounts(_message.Message):
    __slots__ = ("dimension", "kind", "values", "tag_sizes", "audience_counts", "user_count")
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    TAG_SIZES_FIELD_NUMBER: _ClassVar[int]
    AUDIENCE_COUNTS_FIELD_NUMBER: _ClassVar[int]
    USER_COUNT_FIELD_NUMBER: _ClassVar[int]
    dimension: str
    kind: str
    values: _containers.RepeatedScalarFieldContainer[str]
    tag_sizes: _containers.RepeatedScalarFieldContainer[int]
    audience_counts: _containers.RepeatedScalarFieldContainer[int]
    user_count: int
    def __init__(self, dimension: _Optional[str] = ..., kind: _Optional[str] = ..., values: _Optional[_Iterable[str]] = ..., tag_sizes: _Optional[_Iterable[int]] = ..., audience_counts: _Optional[_Iterable[int]] = ..., user_count: _Optional[int] = ...) -> None: ...

class CampaignEventDays(_message.Message):
    __slots__ = ("campaign", "event", "days")
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    DAYS_FIELD_NUMBER: _ClassVar[int]
    campaign: str
    event: str
    days: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, campaign: _Optional[str] = ..., event: _Optional[str] = ..., days: _Optional[_Iterable[str]] = ...) -> None: ...

class ValueCountsResponse(_message.Message):
    __slots__ = ("audience_count", "population_count", "dimensions", "campaigns", "snapshot_version")
    AUDIENCE_COUNT_FIELD_NUMBER: _ClassVar[int]
    POPULATION_COUNT_FIELD_NUMBER: _ClassVar[int]
    DIMENSIONS_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGNS_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_VERSION_FIELD_NUMBER: _ClassVar[int]
    audience_count: int
    population_count: int
    dimensions: _containers.RepeatedCompositeFieldContainer[DimensionValueCounts]
    campaigns: _containers.RepeatedCompositeFieldContainer[CampaignEventDays]
    snapshot_version: int
    def __init__(self, audience_count: _Optional[int] = ..., population_count: _Optional[int] = ..., dimensions: _Optional[_Iterable[_Union[DimensionValueCounts, _Mapping]]] = ..., campaigns: _Optional[_Iterable[_Union[CampaignEventDays, _Mapping]]] = ..., snapshot_version: _Optional[int] = ...) -> None: ...
