"""--workers N: several server processes on one port; saved audiences are visible from every worker."""

from __future__ import annotations

import pathlib
import shutil
import socket
import subprocess
import sys
import time

import pytest

from dolphin import errors
from dolphin.client import Client

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_two_workers_share_port_and_audiences(loaded_dir: pathlib.Path, tmp_path: pathlib.Path) -> None:
    shutil.copytree(loaded_dir, tmp_path / "data")
    port = free_port()
    with open(tmp_path / "log", "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "dolphin", "serve", "--data-dir", str(tmp_path / "data"),
                                 "--port", str(port), "--workers", "2", "--watch-seconds", "0.2"],
                                stdout=subprocess.DEVNULL, stderr=log)
    target = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while subprocess.run([sys.executable, "-m", "dolphin", "health", "--target", target],
                             capture_output=True).returncode != 0:
            assert time.monotonic() < deadline, (tmp_path / "log").read_text()
            time.sleep(0.1)
        clients = [Client(target) for _ in range(8)]  # separate channels land on both workers
        expected = clients[0].count("gender=F")
        clients[0].save_audience("shared", "gender=F")
        assert [c.count("@shared") for c in clients] == [expected] * 8
        clients[0].delete_audience("shared")
        time.sleep(1.0)  # deletions propagate within --watch-seconds
        for c in clients:
            with pytest.raises(errors.AudienceNotFoundError):
                c.count("@shared")
            c.close()
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0
