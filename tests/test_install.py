"""The package installs non-editable into a fresh virtual environment, as the Dockerfile does it: the wheel holds
the protoset and the console, and the `dolphin` command runs from it.

The fresh environment sees the test run's own dependencies through a .pth file and installs Dolphin alone
(--no-deps): resolving them again from the index took 25 of the test's 36 s, and CI's own install already
resolves the same list from pyproject.toml."""

from __future__ import annotations

import pathlib
import subprocess
import sys
import sysconfig

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def test_fresh_venv_install(tmp_path: pathlib.Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    site = subprocess.run([str(venv / "bin" / "python"), "-c",
                           "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    pathlib.Path(site, "test-run-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    pip = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--no-deps", str(ROOT)], capture_output=True,
                         text=True, timeout=900)
    assert pip.returncode == 0, pip.stderr[-2000:]
    out = subprocess.run([str(venv / "bin" / "dolphin"), "serve", "--print-config"], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path)
    assert out.returncode == 0 and "port = 50051" in out.stdout
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import dolphin; print(dolphin.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert where.stdout.strip().startswith(site), where  # the installed copy, not the checkout
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
