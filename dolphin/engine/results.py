"""Values the Engine returns: plain frozen dataclasses, never protobuf messages."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, slots=True)
class CountResult:
    """Size of one audience."""

    count: int
    snapshot_version: int


@dataclass(frozen=True, slots=True)
class BatchCountResult:
    """Sizes of several audiences, on one version."""

    counts: list[int]
    snapshot_version: int


@dataclass(frozen=True, slots=True)
class ExportPage:
    """One page of external user IDs: as text, or as int64 (int_user_ids, then user_ids is empty)."""

    user_ids: list[str]
    next_page_token: str
    snapshot_version: int
    total_count: int
    int_user_ids: np.ndarray | None = None
    order_values: list[str] = field(default_factory=list)  # with order_by: each user's value as text ("": none)


@dataclass(frozen=True, slots=True)
class BitmapExport:
    """A whole audience as one bitmap of its external IDs, in an interchange format."""

    data: bytes
    count: int
    snapshot_version: int


@dataclass(frozen=True, slots=True)
class ProfileValue:
    """One value of a profiled dimension."""

    value: str
    count: int
    share: float
    population_share: float
    tgi: float
    lower: str = ""  # a numeric field's bucket: lower end (inclusive), "" when unbounded
    upper: str = ""  # and upper end (exclusive)


@dataclass(frozen=True, slots=True)
class DimensionProfile:
    """The values of one dimension inside an audience, largest first."""

    dimension: str
    values: list[ProfileValue]
    value_count: int


@dataclass(frozen=True, slots=True)
class ProfileResult:
    """A TGI profile of an audience."""

    audience_count: int
    population_count: int
    dimensions: list[DimensionProfile]
    snapshot_version: int


@dataclass(frozen=True, slots=True)
class OverlapResult:
    """Audience sizes and pairwise intersections: pairs[(i, j)] for i < j."""

    counts: list[int]
    pairs: list[tuple[int, int, int]]
    snapshot_version: int


@dataclass(frozen=True, slots=True)
class PlanTrace:
    """One evaluated plan node."""

    op: str
    detail: str
    cardinality: int
    elapsed_us: float
    children: list[PlanTrace]


@dataclass(frozen=True, slots=True)
class ExplainResult:
    """An evaluated plan."""

    root: PlanTrace
    count: int
    snapshot_version: int
    normalized_expression: str


@dataclass(frozen=True, slots=True)
class AudienceInfo:
    """A saved audience, without its bitmap."""

    name: str
    expression: str
    count: int
    snapshot_version: int
    created_at: float
    unknown_ids: int = 0  # saved from a bitmap: its IDs no user has (left out)


@dataclass(frozen=True, slots=True)
class AudiencePage:
    """One page of saved audiences."""

    audiences: list[AudienceInfo]
    next_page_token: str


@dataclass(frozen=True, slots=True)
class DimensionInfo:
    """A dimension with its largest values."""

    name: str
    kind: str
    value_count: int
    user_count: int
    values: list[tuple[str, int]]
    bounds: tuple[int, int] | None = None  # a numeric field's min and max (stored units), None when no values
    bits: int = 0  # a numeric field's magnitude slices
    index_bytes: int = 0  # and the memory of its slices


@dataclass(frozen=True, slots=True)
class DimensionPage:
    """One page of dimensions."""

    dimensions: list[DimensionInfo]
    next_page_token: str
    snapshot_version: int


@dataclass(frozen=True, slots=True)
class ShardStatusInfo:
    """One shard server of a cluster."""

    shard: int
    address: str
    snapshot_version: int
    users: int
    tags: int
    bitmap_bytes: int
    rss_bytes: int


@dataclass(frozen=True, slots=True)
class StatusInfo:
    """What the engine serves."""

    snapshot_version: int
    users: int
    tags: int
    dimensions: int
    bitmap_bytes: int
    rss_bytes: int
    snapshot_built_at: float
    loaded_at: float
    data_dir: str
    saved_audiences: int
    skipped_versions: tuple[str, ...] = ()  # damaged versions passed over when the served one was opened
    shards: tuple[ShardStatusInfo, ...] = ()  # a cluster front's shards
    cache_bytes: dict[str, int] = field(default_factory=dict)  # memory of the read caches, by cache
    read_cache_limit_bytes: int = 0  # the budget the snapshot's read caches share


@dataclass(frozen=True, slots=True)
class ReloadResult:
    """What a reload did."""

    previous_version: int
    snapshot_version: int
    changed: bool


@dataclass(frozen=True, slots=True)
class ServedVersion:
    """What a cluster shard serves after moving to its pinned batch load."""

    reload: ReloadResult
    batch_version: int


@dataclass(frozen=True, slots=True)
class ValueCounts:
    """Every value of one dimension with its users, and its users inside an audience (when one was given)."""

    dimension: str
    kind: str  # "single" or "multi"; "" for a dimension this data does not hold (a cluster shard's)
    values: list[str]  # sorted
    tag_sizes: list[int]  # users with each value
    audience_counts: list[int]  # users with each value inside the audience; empty without an audience
    user_count: int  # users with any value


@dataclass(frozen=True, slots=True)
class ValueCountsResult:
    """Raw, unfloored counts of dimensions and the campaign index: what a cluster front merges over shards."""

    audience_count: int
    population_count: int
    dimensions: list[ValueCounts]
    campaigns: dict[str, dict[str, list[str]]]  # campaign -> event -> sorted days
    snapshot_version: int
