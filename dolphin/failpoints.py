"""Named crash points for fault tests, active only when DOLPHIN_FAILPOINTS is set (gofail-style).

    DOLPHIN_FAILPOINTS="wal.after_write_before_fsync=kill@3,ckpt.before_wal_truncate=kill"

`kill` sends SIGKILL to this process the Nth time the point is reached (default the first); `eio` raises
OSError(EIO) there instead; `sleep:<seconds>` waits there every time (a slow disk). Unset, `hit()` is one
dictionary lookup.

Points: wal.before_write, wal.after_write_before_fsync, wal.fsync (eio only), wal.after_fsync_before_apply,
wal.after_apply_before_ack, ckpt.after_files_before_manifest, ckpt.after_manifest_rename_before_dirsync,
ckpt.before_wal_truncate, load.before_manifest.
"""

from __future__ import annotations

import errno
import os
import signal
import time
from dataclasses import dataclass

ENV = "DOLPHIN_FAILPOINTS"


@dataclass(slots=True)
class _Point:
    action: str
    at: int
    hits: int = 0


def _parse(spec: str) -> dict[str, _Point]:
    points = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, action = item.partition("=")
        action, _, at = action.partition("@")
        if action.startswith("sleep:"):
            try:
                float(action[6:])
            except ValueError:
                raise ValueError(f'{ENV}: "{item}" is not name=sleep:<seconds>') from None
        elif action not in ("kill", "eio") or (at and not at.isdigit()):
            raise ValueError(f'{ENV}: "{item}" is not name=kill[@N], name=eio[@N] or name=sleep:<seconds>')
        points[name] = _Point(action, int(at or 1))
    return points


_POINTS = _parse(os.environ.get(ENV, ""))


def hit(name: str) -> None:
    """Reach a failpoint: do its action if it is armed and this is the armed hit."""
    point = _POINTS.get(name)
    if point is None:
        return
    if point.action.startswith("sleep:"):
        time.sleep(float(point.action[6:]))
        return
    point.hits += 1
    if point.hits != point.at:
        return
    if point.action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    raise OSError(errno.EIO, f"failpoint {name}: injected I/O error")
