from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MutationOp(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MUTATION_OP_UNSPECIFIED: _ClassVar[MutationOp]
    MUTATION_OP_ADD: _ClassVar[MutationOp]
    MUTATION_OP_REMOVE: _ClassVar[MutationOp]
    MUTATION_OP_SET: _ClassVar[MutationOp]
    MUTATION_OP_DELETE_USER: _ClassVar[MutationOp]
    MUTATION_OP_SET_NUMBER: _ClassVar[MutationOp]
    MUTATION_OP_CLEAR_NUMBER: _ClassVar[MutationOp]
    MUTATION_OP_ADD_EVENT: _ClassVar[MutationOp]
MUTATION_OP_UNSPECIFIED: MutationOp
MUTATION_OP_ADD: MutationOp
MUTATION_OP_REMOVE: MutationOp
MUTATION_OP_SET: MutationOp
MUTATION_OP_DELETE_USER: MutationOp
MUTATION_OP_SET_NUMBER: MutationOp
MUTATION_OP_CLEAR_NUMBER: MutationOp
MUTATION_OP_ADD_EVENT: MutationOp

class Mutation(_message.Message):
    __slots__ = ("user_id", "op", "dimension", "value", "campaign", "event", "date")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    CAMPAIGN_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    DATE_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    op: MutationOp
    dimension: str
    value: str
    campaign: str
    event: str
    date: str
    def __init__(self, user_id: _Optional[str] = ..., op: _Optional[_Union[MutationOp, str]] = ..., dimension: _Optional[str] = ..., value: _Optional[str] = ..., campaign: _Optional[str] = ..., event: _Optional[str] = ..., date: _Optional[str] = ...) -> None: ...

class MutationBatch(_message.Message):
    __slots__ = ("source", "offset", "mutations", "first_offset", "columns")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    MUTATIONS_FIELD_NUMBER: _ClassVar[int]
    FIRST_OFFSET_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    source: str
    offset: int
    mutations: _containers.RepeatedCompositeFieldContainer[Mutation]
    first_offset: int
    columns: MutationColumns
    def __init__(self, source: _Optional[str] = ..., offset: _Optional[int] = ..., mutations: _Optional[_Iterable[_Union[Mutation, _Mapping]]] = ..., first_offset: _Optional[int] = ..., columns: _Optional[_Union[MutationColumns, _Mapping]] = ...) -> None: ...

class MutationColumns(_message.Message):
    __slots__ = ("user_ids", "ops", "dimensions", "values", "dates", "strings", "int_user_ids")
    USER_IDS_FIELD_NUMBER: _ClassVar[int]
    OPS_FIELD_NUMBER: _ClassVar[int]
    DIMENSIONS_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    DATES_FIELD_NUMBER: _ClassVar[int]
    STRINGS_FIELD_NUMBER: _ClassVar[int]
    INT_USER_IDS_FIELD_NUMBER: _ClassVar[int]
    user_ids: _containers.RepeatedScalarFieldContainer[str]
    ops: bytes
    dimensions: _containers.RepeatedScalarFieldContainer[int]
    values: _containers.RepeatedScalarFieldContainer[int]
    dates: _containers.RepeatedScalarFieldContainer[int]
    strings: _containers.RepeatedScalarFieldContainer[str]
    int_user_ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, user_ids: _Optional[_Iterable[str]] = ..., ops: _Optional[bytes] = ..., dimensions: _Optional[_Iterable[int]] = ..., values: _Optional[_Iterable[int]] = ..., dates: _Optional[_Iterable[int]] = ..., strings: _Optional[_Iterable[str]] = ..., int_user_ids: _Optional[_Iterable[int]] = ...) -> None: ...

class MutationAck(_message.Message):
    __slots__ = ("source", "offset", "applied", "skipped", "snapshot_version", "sequence", "dropped_events")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_VERSION_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    DROPPED_EVENTS_FIELD_NUMBER: _ClassVar[int]
    source: str
    offset: int
    applied: int
    skipped: bool
    snapshot_version: int
    sequence: int
    dropped_events: int
    def __init__(self, source: _Optional[str] = ..., offset: _Optional[int] = ..., applied: _Optional[int] = ..., skipped: _Optional[bool] = ..., snapshot_version: _Optional[int] = ..., sequence: _Optional[int] = ..., dropped_events: _Optional[int] = ...) -> None: ...

class GetOffsetsRequest(_message.Message):
    __slots__ = ("sources",)
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    sources: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, sources: _Optional[_Iterable[str]] = ...) -> None: ...

class SourceOffset(_message.Message):
    __slots__ = ("source", "offset")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    source: str
    offset: int
    def __init__(self, source: _Optional[str] = ..., offset: _Optional[int] = ...) -> None: ...

class GetOffsetsResponse(_message.Message):
    __slots__ = ("offsets",)
    OFFSETS_FIELD_NUMBER: _ClassVar[int]
    offsets: _containers.RepeatedCompositeFieldContainer[SourceOffset]
    def __init__(self, offsets: _Optional[_Iterable[_Union[SourceOffset, _Mapping]]] = ...) -> None: ...
