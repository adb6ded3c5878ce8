"""Full-disk errors are recognised whether the OS or Polars reports them."""

from __future__ import annotations

import errno
import pathlib
import subprocess
import sys

import polars as pl

from dolphin.errors import StorageFullError
from dolphin.storage.fsutil import full_disk_error, os_error_of
from tests.conftest import with_file_size_limit


def test_full_disk_errors_from_the_os_and_from_polars() -> None:
    polars_error = pl.exceptions.ComputeError(
        "parquet: File out of specification: underlying IO error: No space left on device (os error 28)")
    for exc in (OSError(errno.ENOSPC, "No space left on device"), polars_error,
                OSError(errno.EFBIG, "File too large"), OSError(errno.EDQUOT, "Disk quota exceeded")):
        full = full_disk_error(exc, "x")
        assert isinstance(full, StorageFullError) and str(full).startswith("data dir is full (")
    assert full_disk_error(OSError(errno.EACCES, "Permission denied"), "x") is None
    assert full_disk_error(ValueError("bad value"), "x") is None
    cause = os_error_of(polars_error)
    assert cause is not None and cause.errno == errno.ENOSPC


def test_a_real_polars_write_past_the_file_size_limit_is_a_full_disk(tmp_path: pathlib.Path) -> None:
    script = (
        "import polars as pl, secrets, pathlib, sys\n"
        "from dolphin.storage.fsutil import full_disk_error\n"
        "try:\n"
        "    pl.DataFrame({'x': [secrets.token_hex(8) for _ in range(50000)]}).write_parquet(sys.argv[1])\n"
        "except Exception as exc:\n"
        "    print(full_disk_error(exc, 'ids'))\n")
    done = subprocess.run(with_file_size_limit([sys.executable, "-c", script, str(tmp_path / "f.parquet")], 4096),
                          capture_output=True, text=True, timeout=60)
    assert done.stdout.startswith("data dir is full (File too large writing ids)"), done.stdout + done.stderr
