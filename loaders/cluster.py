"""Loads into a cluster data root: one Polars pass splits the input by shard, then every shard loads its part
with the single-node loader (the same code, into the shard's own data dir).

The first load into a new root names the shard count (`--shards N`) and fixes the ID type; later loads read both
from `cluster.json`, and a `--shards` that disagrees is an error.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import os
import pathlib
import shutil
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import polars as pl

from dolphin.errors import LoadError
from dolphin.storage.cluster_file import COMMITTED_FILE, ClusterLayout, layout_for_load, write_batches, write_cluster
from dolphin.storage.ids import normalised_ids
from dolphin.storage.layout import list_versions, version_name, versions_dir
from dolphin.storage.partition import shard_of
from dolphin.storage.reader import read_manifest
from dolphin.storage.writer import prune_versions, remove_version
from loaders.embeddings import EmbeddingReport, load_embeddings
from loaders.events import EventReport, dates_of, load_events
from loaders.inputs import ROW, Progress, expand_inputs, scan_inputs
from loaders.numeric import plan_numeric
from loaders.tags import LoadReport, load_tags

INCOMING = "incoming"  # a shard's part of an input, written before the shard loads it, removed after


@dataclasses.dataclass(frozen=True, slots=True)
class Split:
    """An input split by shard: the layout it was checked against and each shard's part files."""

    cluster: ClusterLayout
    parts: list[list[pathlib.Path]]  # per shard, in shard order: one file per input file with rows for it
    rows: list[int]  # per shard


def _columns_present(frame: pl.DataFrame, file: pathlib.Path, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise LoadError(f'{file}: the input has no column "{missing[0]}" (columns: {", ".join(frame.columns[:20])})')


def split_inputs(files: list[pathlib.Path], root: pathlib.Path, shards: int | None, columns: tuple[str, ...],
                 keep_rows: Callable[[pl.DataFrame], pl.DataFrame] = lambda f: f) -> Split:
    """Split the input by shard, one input file in memory at a time, into Parquet parts in the shards' dirs.

    columns[0] is the ID column; every ID is checked (nulls, types, one ID type over all files) before any shard
    loads. A shard with no rows gets an empty part with the same columns: its load still replaces the
    dimensions the input carries, as a single node's load does for the users the input leaves out.
    """
    cluster: ClusterLayout | None = None
    parts: list[list[pathlib.Path]] = []
    rows: list[int] = []
    empty: pl.DataFrame | None = None
    try:
        for number, file in enumerate(files):
            frame = scan_inputs([file]).drop(ROW).collect()
            _columns_present(frame, file, columns)
            frame = keep_rows(frame)
            ids = normalised_ids(frame[columns[0]])
            id_type = "string" if ids.dtype == pl.String else "int64"
            if cluster is None:
                cluster = layout_for_load(root, shards, id_type)
                parts, rows = [[] for _ in range(cluster.shards)], [0] * cluster.shards
            elif id_type != cluster.id_type:
                raise LoadError(f"{file}: its user IDs are {id_type}, those of {files[0]} {cluster.id_type}; "
                                "cast the column to match")
            owner = shard_of(ids, cluster.id_type, cluster.shards)
            split = frame.with_columns(pl.Series("__shard", owner)).partition_by("__shard", as_dict=True,
                                                                                 include_key=False)
            empty = frame.clear()
            del frame, ids
            for (shard,), part in split.items():
                parts[int(shard)].append(_written_part(part, cluster, root, int(shard), f"{number:05d}"))
                rows[int(shard)] += len(part)
        assert cluster is not None and empty is not None  # expand_inputs names at least one file
        for shard, shard_parts in enumerate(parts):
            if not shard_parts:
                shard_parts.append(_written_part(empty, cluster, root, shard, "empty"))
    except BaseException:
        remove_parts(parts)
        raise
    return Split(cluster, parts, rows)


def _written_part(part: pl.DataFrame, cluster: ClusterLayout, root: pathlib.Path, shard: int, name: str
                  ) -> pathlib.Path:
    """Write one shard's part of an input file into the shard's incoming dir; return its path."""
    path = cluster.shard_dir(root, shard) / INCOMING / f"part-{os.getpid()}-{name}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    part.write_parquet(path)
    return path


def remove_parts(parts: list[list[pathlib.Path]]) -> None:
    """Remove the shards' incoming part files."""
    for shard_parts in parts:
        for path in shard_parts[:1]:
            shutil.rmtree(path.parent, ignore_errors=True)


class _Versioned(Protocol):
    @property
    def version(self) -> int: ...


R = TypeVar("R", bound=_Versioned)


ShardLoad = Callable[[list[str], pathlib.Path], R]
# runs outcome(parts, shard dir) for every shard at once; returns the outcomes in shard order
RunAll = Callable[[Callable[[list[str], str], Any], list[list[str]], list[str], Progress | None], list[Any]]


@dataclasses.dataclass(frozen=True, slots=True)
class ShardRunner:
    """Where shard loads run: in this process, shard after shard, or all at once through run_all.

    run_all is how a cluster runs them elsewhere (`dolphin.cluster.loads.on_ray`: one Ray task per shard);
    loaders never import Ray themselves.
    """

    run_all: RunAll | None = None
    progress: Progress | None = None  # called with (shards loaded, shards, message)


LOCAL = ShardRunner()


def shard_outcome(load: ShardLoad[R], parts: list[str], shard_dir: str) -> R | Exception:
    """Run one shard's load; its error is returned, not raised, so the caller can roll the others back."""
    try:
        return load(parts, pathlib.Path(shard_dir))
    except Exception as exc:  # noqa: BLE001 - handed to the caller, which raises it after the rollback
        return exc


def load_every_shard(split: Split, load: ShardLoad[R], root: pathlib.Path, runner: ShardRunner = LOCAL) -> list[R]:
    """Load each shard's part into its dir; if any fails, remove the versions the others committed.

    Shards load one after another here, or all at once through runner.run_all; the parts are removed afterwards
    either way.
    """
    dirs = [split.cluster.shard_dir(root, shard) for shard in range(split.cluster.shards)]
    parts = [[str(p) for p in shard_parts] for shard_parts in split.parts]
    outcomes: list[R | Exception] = []
    try:
        if runner.run_all is not None:
            outcomes = runner.run_all(functools.partial(shard_outcome, load), parts, [str(d) for d in dirs],
                                      runner.progress)
        else:
            for shard, (part, shard_dir) in enumerate(zip(parts, dirs, strict=True)):
                outcomes.append(shard_outcome(load, part, str(shard_dir)))
                if isinstance(outcomes[-1], Exception):
                    break
                if runner.progress:
                    runner.progress(shard + 1, len(parts), f"shard {shard} loaded")
        failures = [o for o in outcomes if isinstance(o, Exception)]
        if failures:
            for shard_dir, outcome in zip(dirs, outcomes, strict=False):
                if not isinstance(outcome, Exception):
                    remove_version(shard_dir, outcome.version)
            raise failures[0]
    finally:
        remove_parts(split.parts)
    done = [o for o in outcomes if not isinstance(o, Exception)]
    write_batches(root, COMMITTED_FILE, [o.version for o in done])  # the cluster version the front may serve
    return done


def load_tags_into_cluster(
    inputs: list[str], root: str | pathlib.Path, *, shards: int | None = None, layout: str = "wide",
    id_column: str = "user_id", shard_bits: int = 20, keep: int = 3, runner: ShardRunner = LOCAL,
    cut_time: float | None = None, numeric: dict[str, int | None] | None = None, auto_numeric: bool = True,
) -> list[LoadReport]:
    """Load user tags into every shard of a cluster root; return each shard's report, in shard order.

    All or nothing: the IDs are checked before any shard loads, and when a shard's load fails, the versions the
    shards before it committed are removed again (old versions are pruned only once every shard committed). Only
    a load that every shard committed is recorded in committed.json, which the front's reload serves: a load
    killed in the middle is never served.
    """
    root = pathlib.Path(root)
    if layout != "wide":  # a shard's empty part of a long input would not name the dimensions it replaces
        raise LoadError("cluster loads take the wide layout (one column per dimension); pivot a long input first")
    files = expand_inputs(inputs)
    cut = cut_time if cut_time is not None else max(f.stat().st_mtime for f in files)
    whole = scan_inputs(files)  # numeric columns are decided once, over the whole input, so every shard agrees
    decided = plan_numeric(whole, whole.collect_schema(), id_column, numeric or {}, auto_numeric)
    split = split_inputs(files, root, shards, (id_column,))
    cluster = split.cluster
    reports = load_every_shard(split, lambda parts, shard_dir: load_tags(
        parts, shard_dir, layout=layout, id_column=id_column, shard_bits=shard_bits, keep=0,
        cut_time=cut, allow_empty=True, decided=decided), root, runner)
    write_cluster(root, cluster)
    return [dataclasses.replace(r, pruned=prune_versions(cluster.shard_dir(root, s), keep))
            for s, r in enumerate(reports)]


def events_days(files: list[pathlib.Path]) -> tuple[datetime.date, datetime.date]:
    """Return the first and last day of an events input (what every shard's load replaces)."""
    lazy = scan_inputs(files)
    schema = lazy.collect_schema()
    if "date" not in schema.names():
        raise LoadError("the events input needs columns user_id, campaign, event, date and at least one row")
    try:
        days = lazy.select(dates_of(lazy, schema).alias("date")).select(
            pl.col("date").min().alias("first"), pl.col("date").max().alias("last")).collect()
    except pl.exceptions.PolarsError as exc:
        raise LoadError(f"cannot read the events: {str(exc).splitlines()[0]}") from exc
    first, last = days["first"][0], days["last"][0]
    if not isinstance(first, datetime.date) or not isinstance(last, datetime.date):
        raise LoadError("events need a date on every row")
    return first, last


def newest_event_day(cluster: ClusterLayout, root: pathlib.Path) -> datetime.date | None:
    """Return the newest day with events on any shard (from the served versions' manifests)."""
    days: list[str] = []
    for shard in range(cluster.shards):
        versions = list_versions(cluster.shard_dir(root, shard))
        if versions:
            manifest = read_manifest(versions_dir(cluster.shard_dir(root, shard)) / version_name(versions[-1]))
            days.extend(e.day for e in manifest.events)
    return datetime.date.fromisoformat(max(days)) if days else None


def load_events_into_cluster(
    inputs: list[str], root: str | pathlib.Path, *, id_column: str = "user_id", keep_days: int = 0,
    shard_bits: int = 20, keep: int = 3, runner: ShardRunner = LOCAL,
) -> list[EventReport]:
    """Load campaign events into every shard of an existing cluster root; return each shard's report.

    Same all-or-nothing rule as tags. `keep_days` counts back from the newest day over the input and every
    shard, so all shards drop the same days.
    """
    root = pathlib.Path(root)
    files = expand_inputs(inputs)
    days = events_days(files)
    split = split_inputs(files, root, None, (id_column,))
    cluster = split.cluster
    stored = newest_event_day(cluster, root)
    horizon = max(days[1], stored) if stored else days[1]
    reports = load_every_shard(split, lambda parts, shard_dir: load_events(
        parts, shard_dir, id_column=id_column, keep_days=keep_days, shard_bits=shard_bits, keep=0,
        replaced_days=days, horizon=horizon), root, runner)
    for shard in range(cluster.shards):
        prune_versions(cluster.shard_dir(root, shard), keep)
    return reports


def load_embeddings_into_cluster(
    inputs: list[str], root: str | pathlib.Path, *, id_column: str = "user_id", vector_column: str = "embedding",
    metric: str = "cosine", index: str = "auto", nlist: int = 0, shard_bits: int = 20, keep: int = 3,
    runner: ShardRunner = LOCAL,
) -> list[EmbeddingReport]:
    """Load user embeddings into every shard of an existing cluster root; each shard builds its own index.

    Same all-or-nothing rule as tags. `nlist` (0: about 4*sqrt(n)) is per shard, counted over its own vectors.
    """
    root = pathlib.Path(root)
    files = expand_inputs(inputs)
    split = split_inputs(files, root, None, (id_column, vector_column), lambda f: f.drop_nulls(vector_column))
    cluster = split.cluster
    if min(split.rows) == 0:
        remove_parts(split.parts)
        raise LoadError(f"{sum(split.rows)} vectors leave a shard of {cluster.shards} without any; every shard "
                        "needs vectors to build its index (load more users, or use fewer shards)")
    reports = load_every_shard(split, lambda parts, shard_dir: load_embeddings(
        parts, shard_dir, id_column=id_column, vector_column=vector_column, metric=metric, index=index,
        nlist=nlist, shard_bits=shard_bits, keep=0), root, runner)
    for shard in range(cluster.shards):
        prune_versions(cluster.shard_dir(root, shard), keep)
    return reports
