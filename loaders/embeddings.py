"""Embeddings loader: Parquet user vectors -> a new snapshot version with vector files and a FAISS index.

The new version keeps every tag of the previous one; users who are new get dense IDs and join the population
(a user with a vector and no tags is still a known user). A load replaces the previous embeddings entirely.
"""

from __future__ import annotations

import pathlib
import shutil
import tempfile
import time
from dataclasses import dataclass

import numpy as np
import polars as pl

from dolphin.errors import LoadError
from dolphin.storage import IdDictionary
from dolphin.storage.vectors import write_vector_files
from loaders.commit import commit_version, previous_snapshot, writer_after
from loaders.inputs import ROW, Progress, expand_inputs, scan_inputs


@dataclass(frozen=True, slots=True)
class EmbeddingReport:
    """What an embeddings load did."""

    version: int
    vectors: int
    dim: int
    new_users: int
    index: str
    nlist: int
    seconds: float


def _vector_matrix(frame: pl.DataFrame, column: str) -> np.ndarray:
    """Return the vectors as a float32 matrix, or raise LoadError naming the first bad row."""
    series = frame[column]
    if isinstance(series.dtype, pl.Array):
        matrix = series.cast(pl.Array(pl.Float32, series.dtype.shape)).to_numpy()
    elif isinstance(series.dtype, pl.List):
        lengths = series.list.len().to_numpy()
        bad = np.flatnonzero(lengths != lengths[0])
        if len(bad):
            row = int(frame[ROW][int(bad[0])])
            raise LoadError(f"row {row + 1}: vector has {lengths[bad[0]]} values; row {int(frame[ROW][0]) + 1} "
                            f"has {lengths[0]}; all vectors need one dimension")
        if lengths[0] == 0:
            raise LoadError("vectors are empty")
        matrix = series.explode().cast(pl.Float32).to_numpy().reshape(len(series), int(lengths[0]))
    else:
        raise LoadError(f'column "{column}" has type {series.dtype}; vectors must be lists or arrays of floats')
    matrix = np.asarray(matrix, dtype=np.float32)
    finite = np.isfinite(matrix).all(axis=1)
    if not finite.all():
        row = int(frame[ROW][int(np.flatnonzero(~finite)[0])])
        raise LoadError(f"row {row + 1}: vector has NaN or infinite values")
    return matrix


def _normalised(matrix: np.ndarray, rows: pl.Series) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1)
    zero = np.flatnonzero(norms == 0)
    if len(zero):
        raise LoadError(f"row {int(rows[int(zero[0])]) + 1}: a zero vector has no direction (use --metric ip)")
    return np.asarray(matrix / norms[:, None], dtype=np.float32)


def load_embeddings(
    inputs: list[str],
    data_dir: str | pathlib.Path,
    *,
    id_column: str = "user_id",
    vector_column: str = "embedding",
    metric: str = "cosine",
    index: str = "auto",
    nlist: int = 0,
    shard_bits: int = 20,
    keep: int = 3,
    progress: Progress | None = None,
) -> EmbeddingReport:
    """Load user embeddings from Parquet into a new snapshot version of data_dir."""
    started = time.time()
    show = progress or (lambda i, n, msg: None)
    if metric not in ("cosine", "ip"):
        raise LoadError(f"unknown metric {metric!r}; use cosine or ip")
    if index not in ("auto", "flat", "ivf"):
        raise LoadError(f"unknown index {index!r}; use auto, flat or ivf")
    data_dir = pathlib.Path(data_dir)
    lazy = scan_inputs(expand_inputs(inputs))
    names = lazy.collect_schema().names()
    for column in (id_column, vector_column):
        if column not in names:
            raise LoadError(f'the input has no column "{column}"; its columns are: '
                            + ", ".join(repr(n) for n in names if n != ROW))
    show(0, 3, "reading vectors")
    frame = lazy.select(ROW, id_column, vector_column).drop_nulls(vector_column).collect()
    if not len(frame):
        raise LoadError("the input has no rows with a vector")
    duplicated = frame[id_column].is_duplicated()
    if duplicated.any():
        raise LoadError(f"user {frame[id_column].filter(duplicated)[0]} has more than one vector")
    matrix = _vector_matrix(frame, vector_column)
    if metric == "cosine":
        matrix = _normalised(matrix, frame[ROW])
    previous = previous_snapshot(data_dir)
    old_ids = previous.ids if previous else IdDictionary.empty()
    dense, ids = old_ids.encode(frame[id_column])
    order = np.argsort(dense, kind="stable")
    dense, matrix = dense[order], matrix[order]
    writer = writer_after(previous, data_dir, shard_bits, ids, dense, replaced=set(), carry_attachments=False)
    if previous:
        writer.extras = {k: v for k, v in previous.manifest.extras.items() if k != "vectors"}
    show(1, 3, f"building the index over {len(dense)} vectors")
    scratch = pathlib.Path(tempfile.mkdtemp(prefix=".vectors-", dir=data_dir))
    try:
        meta = write_vector_files(scratch, dense, matrix, metric=metric, kind=index, nlist=nlist)
        for name in meta["files"]:
            writer.attach(name, scratch / name)
        writer.extras["vectors"] = meta
        show(2, 3, "writing the snapshot")
        version, _ = commit_version(writer, data_dir, keep, {"embeddings": [str(f) for f in inputs]}, started)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    show(3, 3, "done")
    return EmbeddingReport(version, len(dense), int(matrix.shape[1]), len(ids) - len(old_ids), meta["index"],
                           meta["nlist"], round(time.time() - started, 3))
