"""Per-class limits on expensive calls: beyond them RESOURCE_EXHAUSTED, while health keeps answering."""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys

import pytest

from dolphin import errors
from dolphin.client import Client
from tests.conftest import RunningServer

pytestmark = pytest.mark.e2e


def test_expensive_calls_are_bounded_per_class(loaded_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    shutil.copytree(loaded_dir, tmp_path / "data")
    server = RunningServer(tmp_path / "data", "--max-expensive-calls", "1")
    try:
        with Client(server.target) as first, Client(server.target, retries=0) as second:
            stream = first.export_pages("ALL", page_size=1)
            assert len(next(stream).user_ids) == 1  # holds the only Export slot while unread
            with pytest.raises(errors.QueryLimitError, match="concurrent Export calls is 2; the limit is 1"):
                list(second.export_pages("ALL", page_size=10))
            assert second.profile("ALL", dimensions=["vip"]).audience_count == 3000  # another class is free
            health = subprocess.run([sys.executable, "-m", "dolphin", "health", "--target", server.target],
                                    capture_output=True, text=True, timeout=30)
            assert health.stdout.strip() == "SERVING"
            stream.close()
    finally:
        assert server.stop() == 0
