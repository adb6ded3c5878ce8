import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ExportFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXPORT_FORMAT_UNSPECIFIED: _ClassVar[ExportFormat]
    EXPORT_FORMAT_ID_LIST: _ClassVar[ExportFormat]
    EXPORT_FORMAT_ROARING_PORTABLE: _ClassVar[ExportFormat]
    EXPORT_FORMAT_CLICKHOUSE_GROUP_BITMAP: _ClassVar[ExportFormat]
    EXPORT_FORMAT_DORIS_BITMAP: _ClassVar[ExportFormat]

class IdEncoding(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ID_ENCODING_UNSPECIFIED: _ClassVar[IdEncoding]
    ID_ENCODING_TEXT: _ClassVar[IdEncoding]
    ID_ENCODING_INT64: _ClassVar[IdEncoding]

class Statistic(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STATISTIC_UNSPECIFIED: _ClassVar[Statistic]
    STATISTIC_COUNT: _ClassVar[Statistic]
    STATISTIC_SUM: _ClassVar[Statistic]
    STATISTIC_MEAN: _ClassVar[Statistic]
    STATISTIC_MIN: _ClassVar[Statistic]
    STATISTIC_MAX: _ClassVar[Statistic]
    STATISTIC_STDDEV: _ClassVar[Statistic]
    STATISTIC_HISTOGRAM: _ClassVar[Statistic]
EXPORT_FORMAT_UNSPECIFIED: ExportFormat
EXPORT_FORMAT_ID_LIST: ExportFormat
EXPORT_FORMAT_ROARING_PORTABLE: ExportFormat
EXPORT_FORMAT_CLICKHOUSE_GROUP_BITMAP: ExportFormat
EXPORT_FORMAT_DORIS_BITMAP: ExportFormat
ID_ENCODING_UNSPECIFIED: IdEncoding
ID_ENCODING_TEXT: IdEncoding
ID_ENCODING_INT64: IdEncoding
STATISTIC_UNSPECIFIED: Statistic
STATISTIC_COUNT: Statistic
STATISTIC_SUM: Statistic
STATISTIC_MEAN: Statistic
STATISTIC_MIN: Statistic
STATISTIC_MAX: Statistic
STATISTIC_STDDEV: Statistic
STATISTIC_HISTOGRAM: Statistic

class CountRequest(_message.Message):
    __slots__ = ("expression",)
    EXPRESSION_FIELD_NUMBER: _ClassVar[int]
    expression: str
    def __init__(self, expression: _Optional[str] = ...) -> None: ...

class CountResponse(_message.Message):
    __slots__ = ("count", "snapshot_version", "suppressed")
    COUNT_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_VERSION_FIELD_NUMBER: _ClassVar[int]
    SUPPRESSED_FIELD_NUMBER: _ClassVar[int]
    count: int
    snapshot_version: int
    suppressed: bool
    def __init__(self, count: _Optional[int] = ..., snapshot_version: _Optional[int] = ..., suppressed: _Optional[bool] = ...) -> None: ...

class BatchCountRequest(_message.Message):
    __slots__ = ("expressions",)
    EXPRESSIONS_FIELD_NUMBER: _ClassVar[int]
    expressions: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, expressions: _Optional[_Iterable[str]] = ...) -> None: ...

class BatchCountResponse(_message.Message):
    __slots__ = ("counts", "snapshot_version", "suppressed")
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_VERSION_FIELD_NUMBER: _ClassVar[int]
    SUPPRESSED_FIELD_NUMBER: _ClassVar[int]
    counts: _containers.RepeatedScalarFieldContainer[int]
    snapshot_version: int
    suppressed: _containers.RepeatedScalarFieldContainer[bool]
    def __init__(self, counts: _Optional[_Iterable[int]] = ..., snapshot_version: _Optional[int] = ..., suppressed: _Optional[_Iterable[bool]] = ...) -> None: ...

class ExportRequest(_message.Message):
    __slots__ = ("expression", "page_size", "page_token", "max_pages", "id_encoding", "order_by", "format", "bitmap_64")
    EXPRESSION_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    MAX_PAGES_FIELD_NUMBER: _ClassVar[int]
    ID_ENCODING_FIELD_NUMBER: _ClassVar[int]
    ORDER_BY_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    BITMAP_64_FIELD_NUMBER: _ClassVar[int]
    expression: str
    page_size: int
    page_token: str
    max_pages: int
    id_encoding: IdEncoding
    order_by: ExportOrder
    format: ExportFormat
    bitmap_64: bool
    def __init__(self, expression: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., max_pages: _Optional[int] = ..., id_encoding: _Optional[_Union[IdEncoding, str]] = ..., order_by: _Optional[_Union[ExportOrder, _Mapping]] = ..., format: _Optional[_Union[ExportFormat, str]] = ..., bitmap_64: _Optional[bool] = ...) -> None: ...

class ExportPageRequest(_message.Message):
    __slots__ = ("expression", "page_size", "page_token", "id_encoding", "order_by")
    EXPRESSION_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ID_ENCODING_FIELD_NUMBER: _ClassVar[int]
    ORDER_BY_FIELD_NUMBER: _ClassVar[int]
    expression: str
    page_size: int
    page_token: str
    id_encoding: IdEncoding
    order_by: ExportOrder
    def __init__(self, expression: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., id_encoding: _Optional[_Union[IdEncoding, str]] = ..., order_by: _Optional[_Union[ExportOrder, _Mapping]] = ...) -> None: ...

class ExportPageResponse(_message.Message):
    __slots__ = ("user_ids", "next_page_token", "snapshot_version", "total_count", "int_user_ids", "order_values")
    USER_IDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_VERSION_FIELD_NUMBER: _ClassVar[int]
    TOTAL_COUNT_FIELD_NUMBER: _ClassVar[int]
    INT_USER_IDS_FIELD_NUMBER: _ClassVar[int]
    ORDER_VALUES_FIELD_NUMBER: _ClassVar[int]
    user_ids: _containers.RepeatedScalarFieldContainer[str]
    next_page_token: str
    snapshot_version: int
    total_count: int
    int_user_ids: _containers.RepeatedScalarFieldContainer[int]
    order_values: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, user_ids: _Optional[_Iterable[str]] = ..., next_page_token: _Optional[str] = ..., snapshot_version: _Optional[int] = ..., total_count: _Optional[int] = ..., int_user_ids: _Optional[_Iterable[int]] = ..., order_values: _Optional[_Iterable[str]] = ...) -> None: ...

class ExportOrder(_message.Message):
    __slots__ = ("field", "descending")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    DESCENDING_FIELD_NUMBER: _ClassVar[int]
    field: str
    descending: bool
    def __init__(self, field: _Optional[str] = ..., descending: _Optional[bool] = ...) -> None: ...

class ExportResponse(_message.Message):
    __slots__ = ("user_ids", "next_page_token", "snapshot_version", "total_count", "int_user_ids", "order_values", "bitmap_chunk", "bitmap_bytes")
    USER_IDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_VERSION_FIELD_NUMBER: _ClassVar[int]
    TOTAL_COUNT_FIELD_NUMBER: _ClassVar[int]
    INT_USER_IDS_FIELD_NUMBER: _ClassVar[int]
    ORDER_VALUES_FIELD_NUMBER: _ClassVar[int]
    BITMAP_CHUNK_FIELD_NUMBER: _ClassVar[int]
    BITMAP_BYTES_FIELD_NUMBER: _ClassVar[int]
    user_ids: _containers.RepeatedScalarFieldContainer[str]
    next_page_token: str
    snapshot_version: int
    total_count: int
    int_user_ids: _containers.RepeatedScalarFieldContainer[int]
    order_values: _containers.RepeatedScalarFieldContainer[str]
    bitmap_chunk: bytes
    bitmap_bytes: int
    def __init__(self, user_ids: _Optional[_Iterable[str]] = ..., next_page_token: _Optional[str] = ..., snapshot_version: _Optional[int] = ..., total_count: _Optional[int] = ..., int_user_ids: _Optional[_Iterable[int]] = ..., order_values: _Optional[_Iterable[str]] = ..., bitmap_chunk: _Optional[bytes] = ..., bitmap_bytes: _Optional[int] = ...) -> None: ...

class ProfileRequest(_message.Message):
    __slots__ = ("expression", "dimensions", "top_k", "numeric_cuts")
    EXPRESSION_FIELD_NUMBER: _ClassVar[int]
    DIMENSIONS_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    NUMERIC_CUTS_FIELD_NUMBER: _ClassVar[int]
    expression: str
    dimensions: _containers.RepeatedScalarFieldContainer[str]
    top_k: int
    numeric_cuts: _containers.RepeatedCompositeFieldContainer[FieldCuts]
    def __init__(self, expression: _Optional[str] = ..., dimensions: _Optional[_Iterable[str]] = ..., top_k: _Optional[int] = ..., numeric_cuts: _Optional[_Iterable[_Union[FieldCuts, _Mapping]]] = ...) -> None: ...

class FieldCuts(_message.Message):
    __slots__ = ("field", "points")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    field: str
    points: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, field: _Optional[str] = ..., points: _Optional[_Iterable[str]] = ...) -> None: ...

class ProfileValue(_message.Message):
    __slots__ = ("value", "count", "share", "population_share", "tgi", "suppressed", "lower", "upper")
    VALUE_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    SHARE_FIELD_NUMBER: _ClassVar[int]
    POPULATION_SHARE_FIELD_NUMBER: _ClassVar[int]
    TGI_FIELD_NUMBER: _ClassVar[int]
    SUPPRESSED_FIELD_NUMBER: _ClassVar[int]
    LOWER_FIELD_NUMBER: _ClassVar[int]
    UPPER_FIELD_NUMBER: _ClassVar[int]
    value: str
    count: int
    share: float
    population_share: float
    tgi: float
    suppressed: bool
    lower: str
    upper: str
    def __init__(self, value: _Optional[str] = ..., count: _Optional[int] = ..., share: _Optional[float] = ..., population_share: _Optional[float] = ..., tgi: _Optional[float] = ..., suppressed: _Optional[bool] = ..., lower: _Optional[str] = ..., upper: _Optional[str] = ...) -> None: ...

class DimensionProfile(_message.Message):
    __slots__ = ("dimension", "values", "value_count")
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    VALUE_COUNT_FIELD_NUMBER: _ClassVar[int]
    dimension: str
    values: _containers.RepeatedCompositeFieldContainer[ProfileValue]
    value_count: int
    def __init__(self, dimension: _Optional[str] = ..., values: _Optional[_Iterable[_Union[ProfileValue, _Mapping]]] = ..., value_count: _Optional[int] = ...) -> None: ...

class ProfileResponse(_message.Message):
    __slots__ = ("audience_count", "population_count", "dimensions", "snapshot_version", "audience_suppressed")
    AUDIENCE_COUNT_FIELD_NUMBER: _ClassVar[int]
    POPULATION_COUNT_FIELD_NUMBER: _ClassVar[int]
    DIMENSIONS_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_VERSION_FIELD_NUMBER: _ClassVar[int]
    AUDIENCE_SUPPRESSED_FIELD_NUMBER: _ClassVar[int]
    audience_count: int
    population_count: int
    dimensions: _containers.RepeatedCompositeFieldContainer[DimensionProfile]
    snapshot_version: int
    audience_suppressed: bool
    def __init__(self, audience_count: _Optional[int] = ..., population_count: _Optional[int] = ..., dimensions: _Optional[_Iterable[_Union[DimensionProfile, _Mapping]]] = ..., snapshot_version: _Optional[int] = ..., audience_suppressed: _Optional[bool] = ...) -> None: ...

class OverlapRequest(_message.Message):
    __slots__ = ("expressions",)
    EXPRESSIONS_FIELD_NUMBER: _ClassVar[int]
    expressions: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, expressions: _Optional[_Iterable[str]] = ...) -> None: ...

class Intersection(_message.Message):
    __slots__ = ("first", "second", "count", "suppressed")
    FIRST_FIELD_NUMBER: _ClassVar[int]
    SECOND_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    SUPPRESSED_FIELD_NUMBER: _ClassVar[int]
    first: int
    second: int
    count: int
    suppressed: bool
    def __init__(self, first: _Optional[int] = ..., second: _Optional[int] = ..., count: _Optional[int] = ..., suppressed: _Optional[bool] = ...) -> None: ...

class OverlapResponse(_message.Message):
    __slots__ = ("counts", "intersections", "snapshot_version", "suppressed")
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    INTERSECTIONS_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_VERSION_FIELD_NUMBER: _ClassVar[int]
    SUPPRESSED_FIELD_NUMBER: _ClassVar[int]
    counts: _containers.RepeatedScalarFieldContainer[int]
    intersections: _containers.RepeatedCompositeFieldContainer[Intersection]
    snapshot_version: int
    suppressed: _containers.RepeatedScalarFieldContainer[bool]
    def __init__(self, counts: _Optional[_Iterable[int]] = ..., intersections: _Optional[_Iterable[_Union[Intersection, _Mapping]]] = ..., snapshot_version: _Optional[int] = ..., suppressed: _Optional[_Iterable[bool]] = ...) -> None: ...

class ExplainRequest(_message.Message):
    __slots__ = ("expression",)
    EXPRESSION_FIELD_NUMBER: _ClassVar[int]
    expression: str
    def __init__(self, expression: _Optional[str] = ...) -> None: ...

class PlanNode(_message.Message):
    __slots__ = ("op", "detail", "cardinality", "elapsed_us", "children")
    OP_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    CARDINALITY_FIELD_NUMBER: _ClassVar[int]
    ELAPSED_US_FIELD_NUMBER: _ClassVar[int]
    CHILDREN_FIELD_NUMBER: _ClassVar[int]
    op: str
    detail: str
    cardinality: int
    elapsed_us: float
    children: _containers.RepeatedCompositeFieldContainer[PlanNode]
    def __init__(self, op: _Optional[str] = ..., detail: _Optional[str] = ..., cardinality: _Optional[int] = ..., elapsed_us: _Optional[float] = ..., children: _Optional[_Iterable[_Union[PlanNode, _Mapping]]] = ...) -> None: ...

class ExplainResponse(_message.Message):
    __slots__ = ("root", "count", "snapshot_version", "normalized_expression")
    ROOT_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_VERSION_FIELD_NUMBER: _ClassVar[int]
    NORMALIZED_EXPRESSION_FIELD_NUMBER: _ClassVar[int]
    root: PlanNode
    count: int
    snapshot_version: int
    normalized_expression: str
    def __init__(self, root: _Optional[_Union[PlanNode, _Mapping]] = ..., count: _Optional[int] = ..., snapshot_version: _Optional[int] = ..., normalized_expression: _Optional[str] = ...) -> None: ...

class SaveAudienceRequest(_message.Message):
    __slots__ = ("name", "expression", "overwrite", "bitmap", "bitmap_format")
    NAME_FIELD_NUMBER: _ClassVar[int]
    EXPRESSION_FIELD_NUMBER: _ClassVar[int]
    OVERWRITE_FIELD_NUMBER: _ClassVar[int]
    BITMAP_FIELD_NUMBER: _ClassVar[int]
    BITMAP_FORMAT_FIELD_NUMBER: _ClassVar[int]
    name: str
    expression: str
    overwrite: bool
    bitmap: bytes
    bitmap_format: ExportFormat
    def __init__(self, name: _Optional[str] = ..., expression: _Optional[str] = ..., overwrite: _Optional[bool] = ..., bitmap: _Optional[bytes] = ..., bitmap_format: _Optional[_Union[ExportFormat, str]] = ...) -> None: ...

class Audience(_message.Message):
    __slots__ = ("name", "expression", "count", "snapshot_version", "created_at", "below_reportable", "unknown_ids")
    NAME_FIELD_NUMBER: _ClassVar[int]
    EXPRESSION_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    BELOW_REPORTABLE_FIELD_NUMBER: _ClassVar[int]
    UNKNOWN_IDS_FIELD_NUMBER: _ClassVar[int]
    name: str
    expression: str
    count: int
    snapshot_version: int
    created_at: _timestamp_pb2.Timestamp
    below_reportable: bool
    unknown_ids: int
    def __init__(self, name: _Optional[str] = ..., expression: _Optional[str] = ..., count: _Optional[int] = ..., snapshot_version: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., below_reportable: _Optional[bool] = ..., unknown_ids: _Optional[int] = ...) -> None: ...

class GetAudienceRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListAudiencesRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListAudiencesResponse(_message.Message):
    __slots__ = ("audiences", "next_page_token")
    AUDIENCES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    audiences: _containers.RepeatedCompositeFieldContainer[Audience]
    next_page_token: str
    def __init__(self, audiences: _Optional[_Iterable[_Union[Audience, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteAudienceRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteAudienceResponse(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class AggregateRequest(_message.Message):
    __slots__ = ("expression", "fields", "percentiles", "cut_points", "statistics")
    EXPRESSION_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    PERCENTILES_FIELD_NUMBER: _ClassVar[int]
    CUT_POINTS_FIELD_NUMBER: _ClassVar[int]
    STATISTICS_FIELD_NUMBER: _ClassVar[int]
    expression: str
    fields: _containers.RepeatedScalarFieldContainer[str]
    percentiles: _containers.RepeatedScalarFieldContainer[float]
    cut_points: _containers.RepeatedScalarFieldContainer[str]
    statistics: _containers.RepeatedScalarFieldContainer[Statistic]
    def __init__(self, expression: _Optional[str] = ..., fields: _Optional[_Iterable[str]] = ..., percentiles: _Optional[_Iterable[float]] = ..., cut_points: _Optional[_Iterable[str]] = ..., statistics: _Optional[_Iterable[_Union[Statistic, str]]] = ...) -> None: ...

class Number(_message.Message):
    __slots__ = ("exact", "value")
    EXACT_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    exact: str
    value: float
    def __init__(self, exact: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...

class PercentileValue(_message.Message):
    __slots__ = ("percentile", "value")
    PERCENTILE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    percentile: float
    value: Number
    def __init__(self, percentile: _Optional[float] = ..., value: _Optional[_Union[Number, _Mapping]] = ...) -> None: ...

class HistogramBucket(_message.Message):
    __slots__ = ("lower", "upper", "count", "suppressed")
    LOWER_FIELD_NUMBER: _ClassVar[int]
    UPPER_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    SUPPRESSED_FIELD_NUMBER: _ClassVar[int]
    lower: str
    upper: str
    count: int
    suppressed: bool
    def __init__(self, lower: _Optional[str] = ..., upper: _Optional[str] = ..., count: _Optional[int] = ..., suppressed: _Optional[bool] = ...) -> None: ...

class FieldAggregate(_message.Message):
    __slots__ = ("field", "kind", "count", "sum", "mean", "min", "max", "stddev", "percentiles", "histogram", "suppressed")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    SUM_FIELD_NUMBER: _ClassVar[int]
    MEAN_FIELD_NUMBER: _ClassVar[int]
    MIN_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    STDDEV_FIELD_NUMBER: _ClassVar[int]
    PERCENTILES_FIELD_NUMBER: _ClassVar[int]
    HISTOGRAM_FIELD_NUMBER: _ClassVar[int]
    SUPPRESSED_FIELD_NUMBER: _ClassVar[int]
    field: str
    kind: str
    count: int
    sum: Number
    mean: Number
    min: Number
    max: Number
    stddev: float
    percentiles: _containers.RepeatedCompositeFieldContainer[PercentileValue]
    histogram: _containers.RepeatedCompositeFieldContainer[HistogramBucket]
    suppressed: bool
    def __init__(self, field: _Optional[str] = ..., kind: _Optional[str] = ..., count: _Optional[int] = ..., sum: _Optional[_Union[Number, _Mapping]] = ..., mean: _Optional[_Union[Number, _Mapping]] = ..., min: _Optional[_Union[Number, _Mapping]] = ..., max: _Optional[_Union[Number, _Mapping]] = ..., stddev: _Optional[float] = ..., percentiles: _Optional[_Iterable[_Union[PercentileValue, _Mapping]]] = ..., histogram: _Optional[_Iterable[_Union[HistogramBucket, _Mapping]]] = ..., suppressed: _Optional[bool] = ...) -> None: ...

class AggregateResponse(_message.Message):
    __slots__ = ("audience_count", "fields", "snapshot_version", "audience_suppressed")
    AUDIENCE_COUNT_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_VERSION_FIELD_NUMBER: _ClassVar[int]
    AUDIENCE_SUPPRESSED_FIELD_NUMBER: _ClassVar[int]
    audience_count: int
    fields: _containers.RepeatedCompositeFieldContainer[FieldAggregate]
    snapshot_version: int
    audience_suppressed: bool
    def __init__(self, audience_count: _Optional[int] = ..., fields: _Optional[_Iterable[_Union[FieldAggregate, _Mapping]]] = ..., snapshot_version: _Optional[int] = ..., audience_suppressed: _Optional[bool] = ...) -> None: ...
