import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StatusResponse(_message.Message):
    __slots__ = ("snapshot_version", "users", "tags", "dimensions", "bitmap_bytes", "rss_bytes", "uptime_seconds", "snapshot_built_at", "loaded_at", "data_dir", "saved_audiences", "server_version", "ingest", "skipped_versions", "shards", "cache_bytes", "read_cache_limit_bytes")
    class CacheBytesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    SNAPSHOT_VERSION_FIELD_NUMBER: _ClassVar[int]
    USERS_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    DIMENSIONS_FIELD_NUMBER: _ClassVar[int]
    BITMAP_BYTES_FIELD_NUMBER: _ClassVar[int]
    RSS_BYTES_FIELD_NUMBER: _ClassVar[int]
    UPTIME_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_BUILT_AT_FIELD_NUMBER: _ClassVar[int]
    LOADED_AT_FIELD_NUMBER: _ClassVar[int]
    DATA_DIR_FIELD_NUMBER: _ClassVar[int]
    SAVED_AUDIENCES_FIELD_NUMBER: _ClassVar[int]
    SERVER_VERSION_FIELD_NUMBER: _ClassVar[int]
    INGEST_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    SHARDS_FIELD_NUMBER: _ClassVar[int]
    CACHE_BYTES_FIELD_NUMBER: _ClassVar[int]
    READ_CACHE_LIMIT_BYTES_FIELD_NUMBER: _ClassVar[int]
    snapshot_version: int
    users: int
    tags: int
    dimensions: int
    bitmap_bytes: int
    rss_bytes: int
    uptime_seconds: float
    snapshot_built_at: _timestamp_pb2.Timestamp
    loaded_at: _timestamp_pb2.Timestamp
    data_dir: str
    saved_audiences: int
    server_version: str
    ingest: IngestStatus
    skipped_versions: _containers.RepeatedScalarFieldContainer[str]
    shards: _containers.RepeatedCompositeFieldContainer[ShardStatus]
    cache_bytes: _containers.ScalarMap[str, int]
    read_cache_limit_bytes: int
    def __init__(self, snapshot_version: _Optional[int] = ..., users: _Optional[int] = ..., tags: _Optional[int] = ..., dimensions: _Optional[int] = ..., bitmap_bytes: _Optional[int] = ..., rss_bytes: _Optional[int] = ..., uptime_seconds: _Optional[float] = ..., snapshot_built_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., loaded_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., data_dir: _Optional[str] = ..., saved_audiences: _Optional[int] = ..., server_version: _Optional[str] = ..., ingest: _Optional[_Union[IngestStatus, _Mapping]] = ..., skipped_versions: _Optional[_Iterable[str]] = ..., shards: _Optional[_Iterable[_Union[ShardStatus, _Mapping]]] = ..., cache_bytes: _Optional[_Mapping[str, int]] = ..., read_cache_limit_bytes: _Optional[int] = ...) -> None: ...

class ShardStatus(_message.Message):
    __slots__ = ("shard", "address", "snapshot_version", "users", "tags", "bitmap_bytes", "rss_bytes")
    SHARD_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_VERSION_FIELD_NUMBER: _ClassVar[int]
    USERS_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    BITMAP_BYTES_FIELD_NUMBER: _ClassVar[int]
    RSS_BYTES_FIELD_NUMBER: _ClassVar[int]
    shard: int
    address: str
    snapshot_version: int
    users: int
    tags: int
    bitmap_bytes: int
    rss_bytes: int
    def __init__(self, shard: _Optional[int] = ..., address: _Optional[str] = ..., snapshot_version: _Optional[int] = ..., users: _Optional[int] = ..., tags: _Optional[int] = ..., bitmap_bytes: _Optional[int] = ..., rss_bytes: _Optional[int] = ...) -> None: ...

class IngestStatus(_message.Message):
    __slots__ = ("fsync", "sequence", "wal_position", "sources", "seconds_since_last_batch", "storage_full", "recovered_batches", "recovery_notes", "last_checkpoint_version")
    FSYNC_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    WAL_POSITION_FIELD_NUMBER: _ClassVar[int]
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    SECONDS_SINCE_LAST_BATCH_FIELD_NUMBER: _ClassVar[int]
    STORAGE_FULL_FIELD_NUMBER: _ClassVar[int]
    RECOVERED_BATCHES_FIELD_NUMBER: _ClassVar[int]
    RECOVERY_NOTES_FIELD_NUMBER: _ClassVar[int]
    LAST_CHECKPOINT_VERSION_FIELD_NUMBER: _ClassVar[int]
    fsync: str
    sequence: int
    wal_position: int
    sources: int
    seconds_since_last_batch: float
    storage_full: bool
    recovered_batches: int
    recovery_notes: _containers.RepeatedScalarFieldContainer[str]
    last_checkpoint_version: int
    def __init__(self, fsync: _Optional[str] = ..., sequence: _Optional[int] = ..., wal_position: _Optional[int] = ..., sources: _Optional[int] = ..., seconds_since_last_batch: _Optional[float] = ..., storage_full: _Optional[bool] = ..., recovered_batches: _Optional[int] = ..., recovery_notes: _Optional[_Iterable[str]] = ..., last_checkpoint_version: _Optional[int] = ...) -> None: ...

class CheckpointRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CheckpointResponse(_message.Message):
    __slots__ = ("snapshot_version", "wal_position", "incremental", "changed_tags", "pause_seconds", "seconds")
    SNAPSHOT_VERSION_FIELD_NUMBER: _ClassVar[int]
    WAL_POSITION_FIELD_NUMBER: _ClassVar[int]
    INCREMENTAL_FIELD_NUMBER: _ClassVar[int]
    CHANGED_TAGS_FIELD_NUMBER: _ClassVar[int]
    PAUSE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    snapshot_version: int
    wal_position: int
    incremental: bool
    changed_tags: int
    pause_seconds: float
    seconds: float
    def __init__(self, snapshot_version: _Optional[int] = ..., wal_position: _Optional[int] = ..., incremental: _Optional[bool] = ..., changed_tags: _Optional[int] = ..., pause_seconds: _Optional[float] = ..., seconds: _Optional[float] = ...) -> None: ...

class ReloadRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ReloadResponse(_message.Message):
    __slots__ = ("previous_version", "snapshot_version", "changed")
    PREVIOUS_VERSION_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_VERSION_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    previous_version: int
    snapshot_version: int
    changed: bool
    def __init__(self, previous_version: _Optional[int] = ..., snapshot_version: _Optional[int] = ..., changed: _Optional[bool] = ...) -> None: ...
