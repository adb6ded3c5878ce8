from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LookalikeMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LOOKALIKE_METHOD_UNSPECIFIED: _ClassVar[LookalikeMethod]
    LOOKALIKE_METHOD_CENTROID: _ClassVar[LookalikeMethod]
    LOOKALIKE_METHOD_MULTI_CENTROID: _ClassVar[LookalikeMethod]
    LOOKALIKE_METHOD_KNN_VOTE: _ClassVar[LookalikeMethod]

class SearchPath(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEARCH_PATH_UNSPECIFIED: _ClassVar[SearchPath]
    SEARCH_PATH_APPROXIMATE: _ClassVar[SearchPath]
    SEARCH_PATH_EXACT: _ClassVar[SearchPath]
LOOKALIKE_METHOD_UNSPECIFIED: LookalikeMethod
LOOKALIKE_METHOD_CENTROID: LookalikeMethod
LOOKALIKE_METHOD_MULTI_CENTROID: LookalikeMethod
LOOKALIKE_METHOD_KNN_VOTE: LookalikeMethod
SEARCH_PATH_UNSPECIFIED: SearchPath
SEARCH_PATH_APPROXIMATE: SearchPath
SEARCH_PATH_EXACT: SearchPath

class LookalikeRequest(_message.Message):
    __slots__ = ("seed_expression", "candidate_expression", "k", "exclude_seed", "method", "nprobe_or_ef", "save_as")
    SEED_EXPRESSION_FIELD_NUMBER: _ClassVar[int]
    CANDIDATE_EXPRESSION_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_SEED_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    NPROBE_OR_EF_FIELD_NUMBER: _ClassVar[int]
    SAVE_AS_FIELD_NUMBER: _ClassVar[int]
    seed_expression: str
    candidate_expression: str
    k: int
    exclude_seed: bool
    method: LookalikeMethod
    nprobe_or_ef: int
    save_as: str
    def __init__(self, seed_expression: _Optional[str] = ..., candidate_expression: _Optional[str] = ..., k: _Optional[int] = ..., exclude_seed: _Optional[bool] = ..., method: _Optional[_Union[LookalikeMethod, str]] = ..., nprobe_or_ef: _Optional[int] = ..., save_as: _Optional[str] = ...) -> None: ...

class ScoredUser(_message.Message):
    __slots__ = ("user_id", "score")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    score: float
    def __init__(self, user_id: _Optional[str] = ..., score: _Optional[float] = ...) -> None: ...

class LookalikeResponse(_message.Message):
    __slots__ = ("users", "seed_count", "seed_with_vectors", "candidates_count", "elapsed_ms", "method", "search_path", "nprobe", "snapshot_version", "index_type", "seed_below_reportable")
    USERS_FIELD_NUMBER: _ClassVar[int]
    SEED_COUNT_FIELD_NUMBER: _ClassVar[int]
    SEED_WITH_VECTORS_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_COUNT_FIELD_NUMBER: _ClassVar[int]
    ELAPSED_MS_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    SEARCH_PATH_FIELD_NUMBER: _ClassVar[int]
    NPROBE_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_VERSION_FIELD_NUMBER: _ClassVar[int]
    INDEX_TYPE_FIELD_NUMBER: _ClassVar[int]
    SEED_BELOW_REPORTABLE_FIELD_NUMBER: _ClassVar[int]
    users: _containers.RepeatedCompositeFieldContainer[ScoredUser]
    seed_count: int
    seed_with_vectors: int
    candidates_count: int
    elapsed_ms: float
    method: LookalikeMethod
    search_path: SearchPath
    nprobe: int
    snapshot_version: int
    index_type: str
    seed_below_reportable: bool
    def __init__(self, users: _Optional[_Iterable[_Union[ScoredUser, _Mapping]]] = ..., seed_count: _Optional[int] = ..., seed_with_vectors: _Optional[int] = ..., candidates_count: _Optional[int] = ..., elapsed_ms: _Optional[float] = ..., method: _Optional[_Union[LookalikeMethod, str]] = ..., search_path: _Optional[_Union[SearchPath, str]] = ..., nprobe: _Optional[int] = ..., snapshot_version: _Optional[int] = ..., index_type: _Optional[str] = ..., seed_below_reportable: _Optional[bool] = ...) -> None: ...
