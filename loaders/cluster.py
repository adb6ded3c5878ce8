"""Loads into a cluster data root: one Polars pass splits the input by shard, then every shard loads its part
with the single-node loader (the same code, into the shard's own data dir).

The first load into a new root names the shard count (`--shards N`) and fixes the ID type; later loads read both
from `cluster.json`, and a `--shards` that disagrees is an error.
"""

from __future__ import annotations

import os
import pathlib
import shutil

import polars as pl

from dolphin.errors import LoadError
from dolphin.storage.cluster_file import ClusterLayout, open_or_create_cluster
from dolphin.storage.partition import shard_of
from loaders.inputs import ROW, Progress, expand_inputs, scan_inputs
from loaders.tags import LoadReport, load_tags

INCOMING = "incoming"  # a shard's part of an input, written before the shard loads it, removed after


def id_type_of(ids: pl.Series) -> str:
    """Return the ID type a first load fixes: int64 for an integer column, string otherwise."""
    return "int64" if ids.dtype.is_integer() else "string"


def split_by_shard(frame: pl.DataFrame, id_column: str, layout: ClusterLayout, root: pathlib.Path
                   ) -> list[pathlib.Path]:
    """Write each shard's rows to a Parquet file in its data dir, in shard order.

    A shard with no rows gets an empty file with the same columns: its load still replaces the dimensions the
    input carries, as a single node's load does for the users the input leaves out.
    """
    try:
        shards = shard_of(frame[id_column], layout.id_type, layout.shards)
    except ValueError as exc:
        raise LoadError(f"{exc}; this cluster's user IDs are {layout.id_type}") from None
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


def load_tags_into_cluster(
    inputs: list[str], root: str | pathlib.Path, *, shards: int | None = None, layout: str = "wide",
    id_column: str = "user_id", shard_bits: int = 20, keep: int = 3, progress: Progress | None = None,
    cut_time: float | None = None,
) -> list[LoadReport]:
    """Load user tags into every shard of a cluster root; return each shard's report, in shard order."""
    root = pathlib.Path(root)
    if layout != "wide":  # a shard's empty part of a long input would not name the dimensions it replaces
        raise LoadError("cluster loads take the wide layout (one column per dimension); pivot a long input first")
    files = expand_inputs(inputs)
    frame = scan_inputs(files).drop(ROW).collect()
    if id_column not in frame.columns:
        raise LoadError(f'the input has no ID column "{id_column}" (columns: {", ".join(frame.columns[:20])})')
    cluster = open_or_create_cluster(root, shards, id_type_of(frame[id_column]))
    cut = cut_time if cut_time is not None else max(f.stat().st_mtime for f in files)
    parts = split_by_shard(frame, id_column, cluster, root)
    del frame
    try:
        return [load_tags([str(part)], cluster.shard_dir(root, shard), layout=layout, id_column=id_column,
                          shard_bits=shard_bits, keep=keep, progress=progress, cut_time=cut,
                          allow_empty=True)
                for shard, part in enumerate(parts)]
    finally:
        for part in parts:
            shutil.rmtree(part.parent, ignore_errors=True)
