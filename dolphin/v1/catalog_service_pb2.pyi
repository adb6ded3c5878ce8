from dolphin.v1 import audience_service_pb2 as _audience_service_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DimensionKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DIMENSION_KIND_UNSPECIFIED: _ClassVar[DimensionKind]
    DIMENSION_KIND_SINGLE: _ClassVar[DimensionKind]
    DIMENSION_KIND_MULTI: _ClassVar[DimensionKind]
    DIMENSION_KIND_NUMERIC: _ClassVar[DimensionKind]
DIMENSION_KIND_UNSPECIFIED: DimensionKind
DIMENSION_KIND_SINGLE: DimensionKind
DIMENSION_KIND_MULTI: DimensionKind
DIMENSION_KIND_NUMERIC: DimensionKind

class NumericField(_message.Message):
    __slots__ = ("type", "scale", "min", "max", "bits", "index_bytes")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    SCALE_FIELD_NUMBER: _ClassVar[int]
    MIN_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    BITS_FIELD_NUMBER: _ClassVar[int]
    INDEX_BYTES_FIELD_NUMBER: _ClassVar[int]
    type: str
    scale: int
    min: _audience_service_pb2.Number
    max: _audience_service_pb2.Number
    bits: int
    index_bytes: int
    def __init__(self, type: _Optional[str] = ..., scale: _Optional[int] = ..., min: _Optional[_Union[_audience_service_pb2.Number, _Mapping]] = ..., max: _Optional[_Union[_audience_service_pb2.Number, _Mapping]] = ..., bits: _Optional[int] = ..., index_bytes: _Optional[int] = ...) -> None: ...

class ListDimensionsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "max_values", "dimension")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    MAX_VALUES_FIELD_NUMBER: _ClassVar[int]
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    max_values: int
    dimension: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., max_values: _Optional[int] = ..., dimension: _Optional[str] = ...) -> None: ...

class DimensionValue(_message.Message):
    __slots__ = ("value", "count")
    VALUE_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    value: str
    count: int
    def __init__(self, value: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class Dimension(_message.Message):
    __slots__ = ("name", "kind", "value_count", "user_count", "values", "numeric")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    VALUE_COUNT_FIELD_NUMBER: _ClassVar[int]
    USER_COUNT_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    NUMERIC_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: DimensionKind
    value_count: int
    user_count: int
    values: _containers.RepeatedCompositeFieldContainer[DimensionValue]
    numeric: NumericField
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[_Union[DimensionKind, str]] = ..., value_count: _Optional[int] = ..., user_count: _Optional[int] = ..., values: _Optional[_Iterable[_Union[DimensionValue, _Mapping]]] = ..., numeric: _Optional[_Union[NumericField, _Mapping]] = ...) -> None: ...

class ListDimensionsResponse(_message.Message):
    __slots__ = ("dimensions", "next_page_token", "snapshot_version")
    DIMENSIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_VERSION_FIELD_NUMBER: _ClassVar[int]
    dimensions: _containers.RepeatedCompositeFieldContainer[Dimension]
    next_page_token: str
    snapshot_version: int
    def __init__(self, dimensions: _Optional[_Iterable[_Union[Dimension, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., snapshot_version: _Optional[int] = ...) -> None: ...

class ListCampaignsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class CampaignEvent(_message.Message):
    __slots__ = ("event", "first_day", "last_day", "days")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    FIRST_DAY_FIELD_NUMBER: _ClassVar[int]
    LAST_DAY_FIELD_NUMBER: _ClassVar[int]
    DAYS_FIELD_NUMBER: _ClassVar[int]
    event: str
    first_day: str
    last_day: str
    days: int
    def __init__(self, event: _Optional[str] = ..., first_day: _Optional[str] = ..., last_day: _Optional[str] = ..., days: _Optional[int] = ...) -> None: ...

class Campaign(_message.Message):
    __slots__ = ("name", "events")
    NAME_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    name: str
    events: _containers.RepeatedCompositeFieldContainer[CampaignEvent]
    def __init__(self, name: _Optional[str] = ..., events: _Optional[_Iterable[_Union[CampaignEvent, _Mapping]]] = ...) -> None: ...

class ListCampaignsResponse(_message.Message):
    __slots__ = ("campaigns", "next_page_token", "snapshot_version")
    CAMPAIGNS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_VERSION_FIELD_NUMBER: _ClassVar[int]
    campaigns: _containers.RepeatedCompositeFieldContainer[Campaign]
    next_page_token: str
    snapshot_version: int
    def __init__(self, campaigns: _Optional[_Iterable[_Union[Campaign, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., snapshot_version: _Optional[int] = ...) -> None: ...
