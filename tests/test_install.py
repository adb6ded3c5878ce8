"""The package installs non-editable into a fresh virtual environment, as the Dockerfile does it."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def test_fresh_venv_install(tmp_path: pathlib.Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(ROOT)], capture_output=True, text=True,
                         timeout=900)
    assert pip.returncode == 0, pip.stderr[-2000:]
    out = subprocess.run([str(venv / "bin" / "dolphin"), "serve", "--print-config"], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path)
    assert out.returncode == 0 and "port = 50051" in out.stdout
    probe = ("import importlib.resources as r; "
             "print(len(r.files('dolphin.v1').joinpath('dolphin.protoset').read_bytes()) > 1000)")
    has_protoset = subprocess.run([str(venv / "bin" / "python"), "-c", probe], capture_output=True, text=True,
                                  cwd=tmp_path, timeout=120)
    assert has_protoset.stdout.strip() == "True", has_protoset.stderr
    probe = ("from dolphin.server.console_files import console_files; f = console_files(); "
             "print(sorted(p for p in f if p.endswith(('.js', '.html')))[:3], "
             "len(f['/console/vendor/echarts.min.js'].body))")
    shipped = subprocess.run([str(venv / "bin" / "python"), "-c", probe], capture_output=True, text=True,
                             cwd=tmp_path, timeout=120)
    assert shipped.returncode == 0, shipped.stderr
    assert "'/console/api.js', '/console/app.js', '/console/charts.js'" in shipped.stdout  # the console ships
    assert int(shipped.stdout.split()[-1]) > 1_000_000
