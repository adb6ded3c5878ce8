"""A cluster's data root: `cluster.json` (shard count, hash, ID type) and one complete data dir per shard.

    <data-root>/cluster.json
    <data-root>/shard-000/ ... shard-<N-1>/     each a single-node data dir (versions, log, audiences, vectors)

N is fixed when the root is created: a user's shard is `partition.shard_of(id, id_type, N)`, so changing N
means loading the data again into a new root.
"""

from __future__ import annotations

import json
import pathlib
from dataclasses import asdict, dataclass

from dolphin.errors import LoadError, SnapshotError
from dolphin.storage.fsutil import atomic_write
from dolphin.storage.partition import HASH_NAME

CLUSTER_FILE = "cluster.json"
FORMAT = 1
ID_TYPES = ("int64", "string")


@dataclass(frozen=True, slots=True)
class ClusterLayout:
    """What every process of a cluster must agree on."""

    shards: int
    id_type: str  # "int64" or "string": how user IDs are hashed (and stored)
    hash: str = HASH_NAME
    format: int = FORMAT

    def shard_dir(self, root: pathlib.Path, shard: int) -> pathlib.Path:
        """Return the data dir of one shard."""
        return root / f"shard-{shard:03d}"

    def shard_dirs(self, root: pathlib.Path) -> list[pathlib.Path]:
        """Return every shard's data dir, in shard order."""
        return [self.shard_dir(root, s) for s in range(self.shards)]


def read_cluster(root: pathlib.Path) -> ClusterLayout:
    """Return the layout of a data root; SnapshotError when it has none or it is not valid."""
    path = root / CLUSTER_FILE
    try:
        raw = json.loads(path.read_bytes())
        layout = ClusterLayout(shards=int(raw["shards"]), id_type=str(raw["id_type"]), hash=str(raw["hash"]),
                               format=int(raw["format"]))
    except FileNotFoundError:
        raise SnapshotError(f"{root} is not a cluster data root (no {CLUSTER_FILE}); create one with "
                            "`dolphin load tags FILE --data-root DIR --shards N`") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SnapshotError(f"{path} is not valid: {exc}") from exc
    if layout.format != FORMAT or layout.hash != HASH_NAME:
        raise SnapshotError(f"{path}: format {layout.format}, hash {layout.hash!r}: this Dolphin reads format "
                            f"{FORMAT} with hash {HASH_NAME!r}")
    if layout.shards < 1 or layout.id_type not in ID_TYPES:
        raise SnapshotError(f"{path}: shards must be >= 1 and id_type one of {ID_TYPES}")
    return layout


def layout_for_load(root: pathlib.Path, shards: int | None, id_type: str) -> ClusterLayout:
    """Return the layout a load into root uses: the root's own, or a new one (the first load names the count).

    LoadError when a given shard count or the input's ID type disagrees with the root's, or a new root gets no
    count. Nothing is written: `write_cluster` records a new root's layout once its first load committed.
    """
    if (root / CLUSTER_FILE).exists():
        layout = read_cluster(root)
        if shards is not None and shards != layout.shards:
            raise LoadError(f"{root} has {layout.shards} shards, not {shards}: the shard count is fixed when a "
                            "data root is created; to change it, load the data again into a new root")
        if id_type != layout.id_type:
            raise LoadError(f"the input's user IDs are {'strings' if id_type == 'string' else 'integers'} but "
                            f"this cluster's user IDs are {layout.id_type}; cast the column to match")
        return layout
    if shards is None:
        raise LoadError(f"{root} is a new cluster data root: give --shards N for its first load")
    if shards < 1:
        raise LoadError(f"--shards must be at least 1, got {shards}")
    return ClusterLayout(shards=shards, id_type=id_type)


def write_cluster(root: pathlib.Path, layout: ClusterLayout) -> None:
    """Record a root's layout (atomically), unless it is there already."""
    if not (root / CLUSTER_FILE).exists():
        atomic_write(root / CLUSTER_FILE, json.dumps(asdict(layout), indent=1).encode())
