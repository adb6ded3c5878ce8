"""Loads into a cluster data root: one Polars pass splits the input by shard, then every shard loads its part
with the single-node loader (the same code, into the shard's own data dir).

The first load into a new root names the shard count (`--shards N`) and fixes the ID type; later loads read both
from `cluster.json`, and a `--shards` that disagrees is an error.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import os
import pathlib
import shutil
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import polars as pl

from dolphin.errors import LoadError
from dolphin.storage.cluster_file import ClusterLayout, layout_for_load, write_cluster
from dolphin.storage.ids import normalised_ids
from dolphin.storage.layout import list_versions, version_name, versions_dir
from dolphin.storage.partition import shard_of
from dolphin.storage.reader import read_manifest
from dolphin.storage.writer import prune_versions, remove_version
from loaders.embeddings import EmbeddingReport, load_embeddings
from loaders.events import EventReport, dates_of, load_events
from loaders.inputs import ROW, Progress, expand_inputs, scan_inputs
from loaders.tags import LoadReport, load_tags

INCOMING = "incoming"  # a shard's part of an input, written before the shard loads it, removed after


def split_by_shard(frame: pl.DataFrame, ids: pl.Series, layout: ClusterLayout, root: pathlib.Path
                   ) -> list[pathlib.Path]:
    """Write each shard's rows to a Parquet file in its data dir, in shard order.

    A shard with no rows gets an empty file with the same columns: its load still replaces the dimensions the
    input carries, as a single node's load does for the users the input leaves out.
    """
    shards = shard_of(ids, layout.id_type, layout.shards)
    parts = frame.with_columns(pl.Series("__shard", shards)).partition_by("__shard", as_dict=True,
                                                                            include_key=False)
    out: list[pathlib.Path] = []
    for shard in range(layout.shards):
        part = parts.get((shard,), frame.clear())
        path = layout.shard_dir(root, shard) / INCOMING / f"part-{os.getpid()}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        part.write_parquet(path)
        out.append(path)
    return out


class _Versioned(Protocol):
    @property
    def version(self) -> int: ...


R = TypeVar("R", bound=_Versioned)


@dataclasses.dataclass(frozen=True, slots=True)
class ShardRunner:
    """Where shard loads run: in this process, shard after shard, or as Ray tasks on a cluster's nodes."""

    ray_address: str | None = None  # None: here; "auto", "head:6379"...: one Ray task per shard, in parallel
    cpus: float = 1.0  # CPUs Ray reserves for each shard's load
    progress: Progress | None = None  # called with (shards loaded, shards, message)


LOCAL = ShardRunner()


def _outcome(load: Callable[[pathlib.Path, pathlib.Path], R], part: str, shard_dir: str) -> R | Exception:
    """Run one shard's load; its error is returned, not raised, so the caller can roll the others back."""
    try:
        return load(pathlib.Path(part), pathlib.Path(shard_dir))
    except Exception as exc:  # noqa: BLE001 - handed to the caller, which raises it after the rollback
        return exc


def _outcomes_on_ray(parts: list[pathlib.Path], dirs: list[pathlib.Path],
                     load: Callable[[pathlib.Path, pathlib.Path], R], runner: ShardRunner) -> list[R | Exception]:
    import ray

    if not ray.is_initialized():
        ray.init(address=runner.ray_address, logging_level=logging.WARNING, log_to_driver=False)
    task: Any = ray.remote(num_cpus=runner.cpus, max_retries=0)(_outcome)
    pending = {task.options(scheduling_strategy="SPREAD").remote(load, str(part), str(shard_dir)): k
               for k, (part, shard_dir) in enumerate(zip(parts, dirs, strict=True))}
    outcomes: list[R | Exception | None] = [None] * len(parts)
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        shard = pending.pop(ready[0])
        outcomes[shard] = ray.get(ready[0])
        if runner.progress:
            runner.progress(len(parts) - len(pending), len(parts), f"shard {shard} loaded (Ray task)")
    return [o for o in outcomes if o is not None]


def load_every_shard(parts: list[pathlib.Path], load: Callable[[pathlib.Path, pathlib.Path], R],
                     cluster: ClusterLayout, root: pathlib.Path, runner: ShardRunner = LOCAL) -> list[R]:
    """Load each shard's part into its dir; if any fails, remove the versions the others committed.

    Shards load one after another here, or all at once as Ray tasks (runner.ray_address); the parts are removed
    afterwards either way.
    """
    dirs = [cluster.shard_dir(root, shard) for shard in range(cluster.shards)]
    outcomes: list[R | Exception] = []
    try:
        if runner.ray_address is not None:
            outcomes = _outcomes_on_ray(parts, dirs, load, runner)
        else:
            for shard, (part, shard_dir) in enumerate(zip(parts, dirs, strict=True)):
                outcomes.append(_outcome(load, str(part), str(shard_dir)))
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
        for part in parts:
            shutil.rmtree(part.parent, ignore_errors=True)
    return [o for o in outcomes if not isinstance(o, Exception)]


def load_tags_into_cluster(
    inputs: list[str], root: str | pathlib.Path, *, shards: int | None = None, layout: str = "wide",
    id_column: str = "user_id", shard_bits: int = 20, keep: int = 3, runner: ShardRunner = LOCAL,
    cut_time: float | None = None,
) -> list[LoadReport]:
    """Load user tags into every shard of a cluster root; return each shard's report, in shard order.

    All or nothing: the IDs are checked before any shard loads, and when a shard's load fails, the versions the
    shards before it committed are removed again (old versions are pruned only once every shard committed). A
    crash in the middle still leaves shards at different versions; cluster-wide versions will settle that.
    """
    root = pathlib.Path(root)
    if layout != "wide":  # a shard's empty part of a long input would not name the dimensions it replaces
        raise LoadError("cluster loads take the wide layout (one column per dimension); pivot a long input first")
    files = expand_inputs(inputs)
    frame = scan_inputs(files).drop(ROW).collect()
    if id_column not in frame.columns:
        raise LoadError(f'the input has no ID column "{id_column}" (columns: {", ".join(frame.columns[:20])})')
    ids = normalised_ids(frame[id_column])  # nulls and bad types fail here, before any shard changes
    cluster = layout_for_load(root, shards, "string" if ids.dtype == pl.String else "int64")
    cut = cut_time if cut_time is not None else max(f.stat().st_mtime for f in files)
    parts = split_by_shard(frame, ids, cluster, root)
    del frame, ids
    reports = load_every_shard(parts, lambda part, shard_dir: load_tags(
        [str(part)], shard_dir, layout=layout, id_column=id_column, shard_bits=shard_bits, keep=0,
        cut_time=cut, allow_empty=True), cluster, root, runner)
    write_cluster(root, cluster)
    return [dataclasses.replace(r, pruned=prune_versions(cluster.shard_dir(root, s), keep))
            for s, r in enumerate(reports)]


def events_days(frame: pl.DataFrame) -> tuple[datetime.date, datetime.date]:
    """Return the first and last day of an events input (what every shard's load replaces)."""
    if "date" not in frame.columns or not len(frame):
        raise LoadError("the events input needs columns user_id, campaign, event, date and at least one row")
    try:
        dates = frame.select(dates_of(frame.lazy(), frame.schema).alias("date")).get_column("date")
    except pl.exceptions.PolarsError as exc:
        raise LoadError(f"cannot read the events: {str(exc).splitlines()[0]}") from exc
    first, last = dates.min(), dates.max()
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
    frame = scan_inputs(files).drop(ROW).collect()
    if id_column not in frame.columns:
        raise LoadError(f'the input has no ID column "{id_column}" (columns: {", ".join(frame.columns[:20])})')
    ids = normalised_ids(frame[id_column])
    cluster = layout_for_load(root, None, "string" if ids.dtype == pl.String else "int64")
    days = events_days(frame)
    stored = newest_event_day(cluster, root)
    horizon = max(days[1], stored) if stored else days[1]
    parts = split_by_shard(frame, ids, cluster, root)
    del frame, ids
    reports = load_every_shard(parts, lambda part, shard_dir: load_events(
        [str(part)], shard_dir, id_column=id_column, keep_days=keep_days, shard_bits=shard_bits, keep=0,
        replaced_days=days, horizon=horizon), cluster, root, runner)
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
    frame = scan_inputs(files).drop(ROW).collect()
    for column in (id_column, vector_column):
        if column not in frame.columns:
            raise LoadError(f'the input has no column "{column}" (columns: {", ".join(frame.columns[:20])})')
    frame = frame.drop_nulls(vector_column)
    ids = normalised_ids(frame[id_column])
    cluster = layout_for_load(root, None, "string" if ids.dtype == pl.String else "int64")
    sizes = pl.Series(shard_of(ids, cluster.id_type, cluster.shards)).value_counts()
    if len(sizes) < cluster.shards:
        raise LoadError(f"{len(frame)} vectors leave a shard of {cluster.shards} without any; every shard needs "
                        "vectors to build its index (load more users, or use fewer shards)")
    parts = split_by_shard(frame, ids, cluster, root)
    del frame, ids
    reports = load_every_shard(parts, lambda part, shard_dir: load_embeddings(
        [str(part)], shard_dir, id_column=id_column, vector_column=vector_column, metric=metric, index=index,
        nlist=nlist, shard_bits=shard_bits, keep=0), cluster, root, runner)
    for shard in range(cluster.shards):
        prune_versions(cluster.shard_dir(root, shard), keep)
    return reports
