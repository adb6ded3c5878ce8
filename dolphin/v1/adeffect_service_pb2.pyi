from dolphin.v1 import audience_service_pb2 as _audience_service_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FunnelRequest(_message.Message):
    __slots__ = ("campaign", "stages", "start_date", "end_date", "audience_expression", "breakdown_dimension", "top_k", "value_fields")
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    STAGES_FIELD_NUMBER: _ClassVar[int]
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    AUDIENCE_EXPRESSION_FIELD_NUMBER: _ClassVar[int]
    BREAKDOWN_DIMENSION_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELDS_FIELD_NUMBER: _ClassVar[int]
    campaign: str
    stages: _containers.RepeatedScalarFieldContainer[str]
    start_date: str
    end_date: str
    audience_expression: str
    breakdown_dimension: str
    top_k: int
    value_fields: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, campaign: _Optional[str] = ..., stages: _Optional[_Iterable[str]] = ..., start_date: _Optional[str] = ..., end_date: _Optional[str] = ..., audience_expression: _Optional[str] = ..., breakdown_dimension: _Optional[str] = ..., top_k: _Optional[int] = ..., value_fields: _Optional[_Iterable[str]] = ...) -> None: ...

class FieldSum(_message.Message):
    __slots__ = ("field", "count", "sum", "mean", "suppressed")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    SUM_FIELD_NUMBER: _ClassVar[int]
    MEAN_FIELD_NUMBER: _ClassVar[int]
    SUPPRESSED_FIELD_NUMBER: _ClassVar[int]
    field: str
    count: int
    sum: _audience_service_pb2.Number
    mean: _audience_service_pb2.Number
    suppressed: bool
    def __init__(self, field: _Optional[str] = ..., count: _Optional[int] = ..., sum: _Optional[_Union[_audience_service_pb2.Number, _Mapping]] = ..., mean: _Optional[_Union[_audience_service_pb2.Number, _Mapping]] = ..., suppressed: _Optional[bool] = ...) -> None: ...

class FunnelStage(_message.Message):
    __slots__ = ("event", "count", "rate_from_previous", "rate_from_first", "suppressed", "value_sums")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    RATE_FROM_PREVIOUS_FIELD_NUMBER: _ClassVar[int]
    RATE_FROM_FIRST_FIELD_NUMBER: _ClassVar[int]
    SUPPRESSED_FIELD_NUMBER: _ClassVar[int]
    VALUE_SUMS_FIELD_NUMBER: _ClassVar[int]
    event: str
    count: int
    rate_from_previous: float
    rate_from_first: float
    suppressed: bool
    value_sums: _containers.RepeatedCompositeFieldContainer[FieldSum]
    def __init__(self, event: _Optional[str] = ..., count: _Optional[int] = ..., rate_from_previous: _Optional[float] = ..., rate_from_first: _Optional[float] = ..., suppressed: _Optional[bool] = ..., value_sums: _Optional[_Iterable[_Union[FieldSum, _Mapping]]] = ...) -> None: ...

class FunnelSegment(_message.Message):
    __slots__ = ("value", "counts", "suppressed")
    VALUE_FIELD_NUMBER: _ClassVar[int]
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    SUPPRESSED_FIELD_NUMBER: _ClassVar[int]
    value: str
    counts: _containers.RepeatedScalarFieldContainer[int]
    suppressed: _containers.RepeatedScalarFieldContainer[bool]
    def __init__(self, value: _Optional[str] = ..., counts: _Optional[_Iterable[int]] = ..., suppressed: _Optional[_Iterable[bool]] = ...) -> None: ...

class FunnelResponse(_message.Message):
    __slots__ = ("stages", "segments", "audience_count", "snapshot_version")
    STAGES_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    AUDIENCE_COUNT_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_VERSION_FIELD_NUMBER: _ClassVar[int]
    stages: _containers.RepeatedCompositeFieldContainer[FunnelStage]
    segments: _containers.RepeatedCompositeFieldContainer[FunnelSegment]
    audience_count: int
    snapshot_version: int
    def __init__(self, stages: _Optional[_Iterable[_Union[FunnelStage, _Mapping]]] = ..., segments: _Optional[_Iterable[_Union[FunnelSegment, _Mapping]]] = ..., audience_count: _Optional[int] = ..., snapshot_version: _Optional[int] = ...) -> None: ...

class LiftRequest(_message.Message):
    __slots__ = ("campaign", "exposure_event", "outcome_event", "start_date", "end_date", "audience_expression", "value_fields")
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    EXPOSURE_EVENT_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_EVENT_FIELD_NUMBER: _ClassVar[int]
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    AUDIENCE_EXPRESSION_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELDS_FIELD_NUMBER: _ClassVar[int]
    campaign: str
    exposure_event: str
    outcome_event: str
    start_date: str
    end_date: str
    audience_expression: str
    value_fields: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, campaign: _Optional[str] = ..., exposure_event: _Optional[str] = ..., outcome_event: _Optional[str] = ..., start_date: _Optional[str] = ..., end_date: _Optional[str] = ..., audience_expression: _Optional[str] = ..., value_fields: _Optional[_Iterable[str]] = ...) -> None: ...

class LiftResponse(_message.Message):
    __slots__ = ("exposed", "exposed_outcome", "unexposed", "unexposed_outcome", "exposed_rate", "unexposed_rate", "absolute_lift", "relative_lift", "z", "p_value", "snapshot_version", "suppressed", "absolute_lift_ci_low", "absolute_lift_ci_high", "exposed_value_sums", "unexposed_value_sums")
    EXPOSED_FIELD_NUMBER: _ClassVar[int]
    EXPOSED_OUTCOME_FIELD_NUMBER: _ClassVar[int]
    UNEXPOSED_FIELD_NUMBER: _ClassVar[int]
    UNEXPOSED_OUTCOME_FIELD_NUMBER: _ClassVar[int]
    EXPOSED_RATE_FIELD_NUMBER: _ClassVar[int]
    UNEXPOSED_RATE_FIELD_NUMBER: _ClassVar[int]
    ABSOLUTE_LIFT_FIELD_NUMBER: _ClassVar[int]
    RELATIVE_LIFT_FIELD_NUMBER: _ClassVar[int]
    Z_FIELD_NUMBER: _ClassVar[int]
    P_VALUE_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_VERSION_FIELD_NUMBER: _ClassVar[int]
    SUPPRESSED_FIELD_NUMBER: _ClassVar[int]
    ABSOLUTE_LIFT_CI_LOW_FIELD_NUMBER: _ClassVar[int]
    ABSOLUTE_LIFT_CI_HIGH_FIELD_NUMBER: _ClassVar[int]
    EXPOSED_VALUE_SUMS_FIELD_NUMBER: _ClassVar[int]
    UNEXPOSED_VALUE_SUMS_FIELD_NUMBER: _ClassVar[int]
    exposed: int
    exposed_outcome: int
    unexposed: int
    unexposed_outcome: int
    exposed_rate: float
    unexposed_rate: float
    absolute_lift: float
    relative_lift: float
    z: float
    p_value: float
    snapshot_version: int
    suppressed: bool
    absolute_lift_ci_low: float
    absolute_lift_ci_high: float
    exposed_value_sums: _containers.RepeatedCompositeFieldContainer[FieldSum]
    unexposed_value_sums: _containers.RepeatedCompositeFieldContainer[FieldSum]
    def __init__(self, exposed: _Optional[int] = ..., exposed_outcome: _Optional[int] = ..., unexposed: _Optional[int] = ..., unexposed_outcome: _Optional[int] = ..., exposed_rate: _Optional[float] = ..., unexposed_rate: _Optional[float] = ..., absolute_lift: _Optional[float] = ..., relative_lift: _Optional[float] = ..., z: _Optional[float] = ..., p_value: _Optional[float] = ..., snapshot_version: _Optional[int] = ..., suppressed: _Optional[bool] = ..., absolute_lift_ci_low: _Optional[float] = ..., absolute_lift_ci_high: _Optional[float] = ..., exposed_value_sums: _Optional[_Iterable[_Union[FieldSum, _Mapping]]] = ..., unexposed_value_sums: _Optional[_Iterable[_Union[FieldSum, _Mapping]]] = ...) -> None: ...

class RetentionRequest(_message.Message):
    __slots__ = ("campaign", "cohort_event", "return_event", "start_date", "days", "end_date")
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    COHORT_EVENT_FIELD_NUMBER: _ClassVar[int]
    RETURN_EVENT_FIELD_NUMBER: _ClassVar[int]
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    DAYS_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    campaign: str
    cohort_event: str
    return_event: str
    start_date: str
    days: int
    end_date: str
    def __init__(self, campaign: _Optional[str] = ..., cohort_event: _Optional[str] = ..., return_event: _Optional[str] = ..., start_date: _Optional[str] = ..., days: _Optional[int] = ..., end_date: _Optional[str] = ...) -> None: ...

class RetentionRow(_message.Message):
    __slots__ = ("day", "cohort", "returned", "cohort_suppressed", "returned_suppressed")
    DAY_FIELD_NUMBER: _ClassVar[int]
    COHORT_FIELD_NUMBER: _ClassVar[int]
    RETURNED_FIELD_NUMBER: _ClassVar[int]
    COHORT_SUPPRESSED_FIELD_NUMBER: _ClassVar[int]
    RETURNED_SUPPRESSED_FIELD_NUMBER: _ClassVar[int]
    day: str
    cohort: int
    returned: _containers.RepeatedScalarFieldContainer[int]
    cohort_suppressed: bool
    returned_suppressed: _containers.RepeatedScalarFieldContainer[bool]
    def __init__(self, day: _Optional[str] = ..., cohort: _Optional[int] = ..., returned: _Optional[_Iterable[int]] = ..., cohort_suppressed: _Optional[bool] = ..., returned_suppressed: _Optional[_Iterable[bool]] = ...) -> None: ...

class RetentionResponse(_message.Message):
    __slots__ = ("rows", "snapshot_version")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_VERSION_FIELD_NUMBER: _ClassVar[int]
    rows: _containers.RepeatedCompositeFieldContainer[RetentionRow]
    snapshot_version: int
    def __init__(self, rows: _Optional[_Iterable[_Union[RetentionRow, _Mapping]]] = ..., snapshot_version: _Optional[int] = ...) -> None: ...

class SplitShare(_message.Message):
    __slots__ = ("name", "share")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SHARE_FIELD_NUMBER: _ClassVar[int]
    name: str
    share: float
    def __init__(self, name: _Optional[str] = ..., share: _Optional[float] = ...) -> None: ...

class SplitRequest(_message.Message):
    __slots__ = ("expression", "name", "shares", "salt")
    EXPRESSION_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SHARES_FIELD_NUMBER: _ClassVar[int]
    SALT_FIELD_NUMBER: _ClassVar[int]
    expression: str
    name: str
    shares: _containers.RepeatedCompositeFieldContainer[SplitShare]
    salt: str
    def __init__(self, expression: _Optional[str] = ..., name: _Optional[str] = ..., shares: _Optional[_Iterable[_Union[SplitShare, _Mapping]]] = ..., salt: _Optional[str] = ...) -> None: ...

class SplitResponse(_message.Message):
    __slots__ = ("audiences",)
    AUDIENCES_FIELD_NUMBER: _ClassVar[int]
    audiences: _containers.RepeatedCompositeFieldContainer[_audience_service_pb2.Audience]
    def __init__(self, audiences: _Optional[_Iterable[_Union[_audience_service_pb2.Audience, _Mapping]]] = ...) -> None: ...

class TrendRequest(_message.Message):
    __slots__ = ("campaign", "events", "start_date", "end_date", "audience_expression")
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    AUDIENCE_EXPRESSION_FIELD_NUMBER: _ClassVar[int]
    campaign: str
    events: _containers.RepeatedScalarFieldContainer[str]
    start_date: str
    end_date: str
    audience_expression: str
    def __init__(self, campaign: _Optional[str] = ..., events: _Optional[_Iterable[str]] = ..., start_date: _Optional[str] = ..., end_date: _Optional[str] = ..., audience_expression: _Optional[str] = ...) -> None: ...

class TrendSeries(_message.Message):
    __slots__ = ("event", "days", "counts", "suppressed")
    EVENT_FIELD_NUMBER: _ClassVar[int]
    DAYS_FIELD_NUMBER: _ClassVar[int]
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    SUPPRESSED_FIELD_NUMBER: _ClassVar[int]
    event: str
    days: _containers.RepeatedScalarFieldContainer[str]
    counts: _containers.RepeatedScalarFieldContainer[int]
    suppressed: _containers.RepeatedScalarFieldContainer[bool]
    def __init__(self, event: _Optional[str] = ..., days: _Optional[_Iterable[str]] = ..., counts: _Optional[_Iterable[int]] = ..., suppressed: _Optional[_Iterable[bool]] = ...) -> None: ...

class TrendResponse(_message.Message):
    __slots__ = ("series", "snapshot_version")
    SERIES_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_VERSION_FIELD_NUMBER: _ClassVar[int]
    series: _containers.RepeatedCompositeFieldContainer[TrendSeries]
    snapshot_version: int
    def __init__(self, series: _Optional[_Iterable[_Union[TrendSeries, _Mapping]]] = ..., snapshot_version: _Optional[int] = ...) -> None: ...
