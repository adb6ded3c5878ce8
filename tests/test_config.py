"""Settings: flag > environment > config file > default; errors name the key; --print-config."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

from dolphin.config import Settings, load_settings
from dolphin.errors import InvalidArgumentError


@pytest.fixture
def config(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "dolphin.toml"
    path.write_text('port = 6000\ndata_dir = "/from/file"\nmax_terms = 100\n')
    return path


def test_precedence(config: pathlib.Path) -> None:
    env = {"DOLPHIN_PORT": "7000", "DOLPHIN_MAX_TERMS": "200"}
    settings = load_settings({"port": 8000}, env=env, config=str(config))
    assert (settings.port, settings.max_terms, settings.data_dir) == (8000, 200, "/from/file")
    assert load_settings({}, env=env, config=str(config)).port == 7000
    assert load_settings({}, env={}, config=str(config)).port == 6000
    assert load_settings({}, env={}).port == Settings().port
    assert load_settings({}, env={"DOLPHIN_CONFIG": str(config)}).data_dir == "/from/file"


@pytest.mark.parametrize(("text", "message"), [
    ("prot = 1\n", 'unknown setting "prot"; did you mean "port"?'),
    ('port = "abc"\n', "setting port"),
    ("port = 70000\n", "port must be at most 65535"),
    ("max_terms = -1\n", "max_terms must be at least 1"),
    ("port = true\n", "is not a int"),
    ("port = \n", "not valid TOML"),
    ("[server]\nport = 1\n", 'unknown setting "server"'),
])
def test_bad_config_names_the_key(tmp_path: pathlib.Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(InvalidArgumentError, match=message.replace("(", r"\(").replace("?", r"\?")):
        load_settings({}, env={}, config=str(path))


def test_bad_env_names_the_variable() -> None:
    with pytest.raises(InvalidArgumentError, match="DOLPHIN_PORT: cannot read 'x'"):
        load_settings({}, env={"DOLPHIN_PORT": "x"})


def test_print_config_and_cli_errors(config: pathlib.Path) -> None:
    out = subprocess.run([sys.executable, "-m", "dolphin", "serve", "--config", str(config), "--port", "9000",
                          "--print-config"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    assert "port = 9000" in out.stdout and 'data_dir = "/from/file"' in out.stdout and "max_terms = 100" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "dolphin", "serve", "--config", str(config.parent / "none.toml")],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "cannot read the config file" in bad.stderr
