"""A cluster's data root: `cluster.json` (shard count, hash, ID type) and one complete data dir per shard.

    <data-root>/cluster.json
    <data-root>/committed.json                  each shard's batch version of the last load that completed
    <data-root>/pins.json                       each shard's batch version the front serves (its pin)
    <data-root>/shard-000/ ... shard-<N-1>/     each a single-node data dir (versions, log, audiences, vectors)

N is fixed when the root is created: a user's shard is `partition.shard_of(id, id_type, N)`, so changing N
means loading the data again into a new root.

A cluster version is a list of batch versions, one per shard. A load makes one only when every shard's part
is written (committed.json), and the front makes it visible by moving every shard at once (pins.json, written
while no question is in flight). A shard never serves a batch load past its pin: not when Ray restarts it, not
when its checkpoint finds a load on disk, so no question sees a mix of two cluster versions.
"""

from __future__ import annotations

import json
import pathlib
from dataclasses import asdict, dataclass

from dolphin.errors import LoadError, SnapshotError
from dolphin.storage.fsutil import atomic_write
from dolphin.storage.layout import list_versions, version_name, versions_dir
from dolphin.storage.partition import HASH_NAME
from dolphin.storage.reader import read_manifest

CLUSTER_FILE = "cluster.json"
COMMITTED_FILE = "committed.json"
PINS_FILE = "pins.json"
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


def write_batches(root: pathlib.Path, name: str, versions: list[int]) -> None:
    """Record one batch version per shard (committed.json or pins.json), atomically."""
    atomic_write(root / name, json.dumps({"versions": versions}).encode())


def read_batches(root: pathlib.Path, name: str) -> list[int] | None:
    """Return the batch version per shard recorded in name; None when there is no such record yet."""
    path = root / name
    try:
        return [int(v) for v in json.loads(path.read_bytes())["versions"]]
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SnapshotError(f"{path} is not valid: {exc}") from exc


def _shard_number(data_dir: pathlib.Path) -> int | None:
    """Return which shard of a cluster root a data dir is (None: not a shard dir of a root)."""
    name = data_dir.name
    if not name.startswith("shard-") or not name[6:].isdigit() or not (data_dir.parent / CLUSTER_FILE).exists():
        return None
    return int(name[6:])


def _batch_of(data_dir: pathlib.Path, name: str) -> int | None:
    """Return a shard dir's entry in its root's record `name`, if both exist."""
    shard = _shard_number(data_dir)
    if shard is None:
        return None
    batches = read_batches(data_dir.parent, name)
    return batches[shard] if batches is not None and shard < len(batches) else None


def shard_pin(data_dir: pathlib.Path) -> int | None:
    """Return the batch version a cluster shard's dir is pinned to; None for a single node or before any pin."""
    return _batch_of(data_dir, PINS_FILE)


def committed_batch(data_dir: pathlib.Path) -> int | None:
    """Return the batch version of the last completed cluster load for this shard (served or not yet)."""
    return _batch_of(data_dir, COMMITTED_FILE)


def newest_batches(root: pathlib.Path, layout: ClusterLayout) -> list[int]:
    """Return the cluster version to serve: the last completed load, or each shard's newest batch on disk.

    The second is for roots from before committed.json (or with no load yet: 0 for a shard without versions).
    """
    committed = read_batches(root, COMMITTED_FILE)
    if committed is not None and len(committed) == layout.shards:
        return committed
    newest = []
    for shard_dir in layout.shard_dirs(root):
        batches = [0]
        for version in list_versions(shard_dir):
            try:
                batches.append(read_manifest(versions_dir(shard_dir) / version_name(version)).batch)
            except SnapshotError:
                continue
        newest.append(max(batches))
    return newest
