from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class FieldThresholds(_message.Message):
    __slots__ = ("field", "values")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    field: str
    values: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, field: _Optional[str] = ..., values: _Optional[_Iterable[int]] = ...) -> None: ...

class FieldPartsRequest(_message.Message):
    __slots__ = ("expression", "fields", "thresholds", "sums", "extremes", "squares", "sizes")
    EXPRESSION_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    THRESHOLDS_FIELD_NUMBER: _ClassVar[int]
    SUMS_FIELD_NUMBER: _ClassVar[int]
    EXTREMES_FIELD_NUMBER: _ClassVar[int]
    SQUARES_FIELD_NUMBER: _ClassVar[int]
    SIZES_FIELD_NUMBER: _ClassVar[int]
    expression: str
    fields: _containers.RepeatedScalarFieldContainer[str]
    thresholds: _containers.RepeatedCompositeFieldContainer[FieldThresholds]
    sums: bool
    extremes: bool
    squares: bool
    sizes: bool
    def __init__(self, expression: _Optional[str] = ..., fields: _Optional[_Iterable[str]] = ..., thresholds: _Optional[_Iterable[_Union[FieldThresholds, _Mapping]]] = ..., sums: _Optional[bool] = ..., extremes: _Optional[bool] = ..., squares: _Optional[bool] = ..., sizes: _Optional[bool] = ...) -> None: ...

class FieldPart(_message.Message):
    __slots__ = ("field", "kind", "count", "sum", "min", "max", "sum_of_squares", "below", "bits", "index_bytes")
    FIELD_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    SUM_FIELD_NUMBER: _ClassVar[int]
    MIN_FIELD_NUMBER: _ClassVar[int]
    MAX_FIELD_NUMBER: _ClassVar[int]
    SUM_OF_SQUARES_FIELD_NUMBER: _ClassVar[int]
    BELOW_FIELD_NUMBER: _ClassVar[int]
    BITS_FIELD_NUMBER: _ClassVar[int]
    INDEX_BYTES_FIELD_NUMBER: _ClassVar[int]
    field: str
    kind: str
    count: int
    sum: str
    min: int
    max: int
    sum_of_squares: str
    below: _containers.RepeatedScalarFieldContainer[int]
    bits: int
    index_bytes: int
    def __init__(self, field: _Optional[str] = ..., kind: _Optional[str] = ..., count: _Optional[int] = ..., sum: _Optional[str] = ..., min: _Optional[int] = ..., max: _Optional[int] = ..., sum_of_squares: _Optional[str] = ..., below: _Optional[_Iterable[int]] = ..., bits: _Optional[int] = ..., index_bytes: _Optional[int] = ...) -> None: ...

class FieldPartsResponse(_message.Message):
    __slots__ = ("audience_count", "fields", "snapshot_version")
    AUDIENCE_COUNT_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_VERSION_FIELD_NUMBER: _ClassVar[int]
    audience_count: int
    fields: _containers.RepeatedCompositeFieldContainer[FieldPart]
    snapshot_version: int
    def __init__(self, audience_count: _Optional[int] = ..., fields: _Optional[_Iterable[_Union[FieldPart, _Mapping]]] = ..., snapshot_version: _Optional[int] = ...) -> None: ...

class PrepareVersionRequest(_message.Message):
    __slots__ = ("batch_version",)
    BATCH_VERSION_FIELD_NUMBER: _ClassVar[int]
    batch_version: int
    def __init__(self, batch_version: _Optional[int] = ...) -> None: ...

class PrepareVersionResponse(_message.Message):
    __slots__ = ("served_batch_version",)
    SERVED_BATCH_VERSION_FIELD_NUMBER: _ClassVar[int]
    served_batch_version: int
    def __init__(self, served_batch_version: _Optional[int] = ...) -> None: ...

class ServeVersionRequest(_message.Message):
    __slots__ = ("batch_version",)
    BATCH_VERSION_FIELD_NUMBER: _ClassVar[int]
    batch_version: int
    def __init__(self, batch_version: _Optional[int] = ...) -> None: ...

class ServeVersionResponse(_message.Message):
    __slots__ = ("previous_version", "snapshot_version", "batch_version", "changed")
    PREVIOUS_VERSION_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_VERSION_FIELD_NUMBER: _ClassVar[int]
    BATCH_VERSION_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    previous_version: int
    snapshot_version: int
    batch_version: int
    changed: bool
    def __init__(self, previous_version: _Optional[int] = ..., snapshot_version: _Optional[int] = ..., batch_version: _Optional[int] = ..., changed: _Optional[bool] = ...) -> None: ...

class VectorPool(_message.Message):
    __slots__ = ("seed_expression", "candidate_expression", "exclude_seed")
    SEED_EXPRESSION_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_EXPRESSION_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_SEED_FIELD_NUMBER: _ClassVar[int]
    seed_expression: str
    candidate_expression: str
    exclude_seed: bool
    def __init__(self, seed_expression: _Optional[str] = ..., candidate_expression: _Optional[str] = ..., exclude_seed: _Optional[bool] = ...) -> None: ...

class SeedVectorsRequest(_message.Message):
    __slots__ = ("pool", "sample")
    POOL_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_FIELD_NUMBER: _ClassVar[int]
    pool: VectorPool
    sample: int
    def __init__(self, pool: _Optional[_Union[VectorPool, _Mapping]] = ..., sample: _Optional[int] = ...) -> None: ...

class SeedVectorsResponse(_message.Message):
    __slots__ = ("seed_count", "seed_with_vectors", "candidates_count", "vector_sum", "sample", "dimension", "normalised", "index_type", "snapshot_version")
    SEED_COUNT_FIELD_NUMBER: _ClassVar[int]
    SEED_WITH_VECTORS_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_COUNT_FIELD_NUMBER: _ClassVar[int]
    VECTOR_SUM_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_FIELD_NUMBER: _ClassVar[int]
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    NORMALISED_FIELD_NUMBER: _ClassVar[int]
    INDEX_TYPE_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_VERSION_FIELD_NUMBER: _ClassVar[int]
    seed_count: int
    seed_with_vectors: int
    candidates_count: int
    vector_sum: _containers.RepeatedScalarFieldContainer[float]
    sample: bytes
    dimension: int
    normalised: bool
    index_type: str
    snapshot_version: int
    def __init__(self, seed_count: _Optional[int] = ..., seed_with_vectors: _Optional[int] = ..., candidates_count: _Optional[int] = ..., vector_sum: _Optional[_Iterable[float]] = ..., sample: _Optional[bytes] = ..., dimension: _Optional[int] = ..., normalised: _Optional[bool] = ..., index_type: _Optional[str] = ..., snapshot_version: _Optional[int] = ...) -> None: ...

class SearchVectorsRequest(_message.Message):
    __slots__ = ("pool", "queries", "dimension", "k", "nprobe", "narrow")
    POOL_FIELD_NUMBER: _ClassVar[int]
    QUERIES_FIELD_NUMBER: _ClassVar[int]
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    NPROBE_FIELD_NUMBER: _ClassVar[int]
    NARROW_FIELD_NUMBER: _ClassVar[int]
    pool: VectorPool
    queries: bytes
    dimension: int
    k: int
    nprobe: int
    narrow: bool
    def __init__(self, pool: _Optional[_Union[VectorPool, _Mapping]] = ..., queries: _Optional[bytes] = ..., dimension: _Optional[int] = ..., k: _Optional[int] = ..., nprobe: _Optional[int] = ..., narrow: _Optional[bool] = ...) -> None: ...

class SearchVectorsResponse(_message.Message):
    __slots__ = ("scores", "dense_ids", "k", "user_ids", "search_path", "nprobe", "snapshot_version")
    SCORES_FIELD_NUMBER: _ClassVar[int]
    DENSE_IDS_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    USER_IDS_FIELD_NUMBER: _ClassVar[int]
    SEARCH_PATH_FIELD_NUMBER: _ClassVar[int]
    NPROBE_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_VERSION_FIELD_NUMBER: _ClassVar[int]
    scores: bytes
    dense_ids: bytes
    k: int
    user_ids: _containers.RepeatedScalarFieldContainer[str]
    search_path: str
    nprobe: int
    snapshot_version: int
    def __init__(self, scores: _Optional[bytes] = ..., dense_ids: _Optional[bytes] = ..., k: _Optional[int] = ..., user_ids: _Optional[_Iterable[str]] = ..., search_path: _Optional[str] = ..., nprobe: _Optional[int] = ..., snapshot_version: _Optional[int] = ...) -> None: ...

class SaveUsersRequest(_message.Message):
    __slots__ = ("name", "description", "dense_ids")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    DENSE_IDS_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    dense_ids: bytes
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., dense_ids: _Optional[bytes] = ...) -> None: ...

class SaveUsersResponse(_message.Message):
    __slots__ = ("count",)
    COUNT_FIELD_NUMBER: _ClassVar[int]
    count: int
    def __init__(self, count: _Optional[int] = ...) -> None: ...

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
