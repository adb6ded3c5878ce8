"""README documents every setting and every command; the public API is what it says."""

from __future__ import annotations

import pathlib

import dolphin
from dolphin.cli import build_parser
from dolphin.config import env_name, flag_name, settings_markdown, settings_table

README = (pathlib.Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_every_setting_is_in_readme() -> None:
    assert settings_markdown() in README, "regenerate README's settings table from dolphin.config.settings_markdown()"
    for f in settings_table():
        assert f"`{flag_name(f.name)}`" in README and f"`{env_name(f.name)}`" in README, f.name


def test_every_command_is_in_readme() -> None:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for name in sub.choices:  # type: ignore[union-attr]
        assert f"`dolphin {name}" in README, name


def test_public_api() -> None:
    assert sorted(dolphin.__all__) == sorted([
        "AudienceExistsError", "AudienceNotFoundError", "Client", "DeadlineError", "DolphinError", "Engine",
        "InvalidArgumentError", "InvalidPageTokenError", "LoadError", "NotFoundError", "NotReadyError",
        "PreconditionError", "QueryError",
        "QueryLimitError", "QuerySyntaxError", "QueryTypeError", "RoleError", "SnapshotError", "StalePageTokenError",
        "StorageFullError",
        "UnknownDimensionError",
        "__version__",
    ])
    for name in dolphin.__all__:
        assert getattr(dolphin, name) is not None


def test_ci_runs_the_readme_test_command() -> None:
    root = pathlib.Path(__file__).resolve().parent.parent
    block = README.split("# 2. install and run the tests", 1)[1].split("```", 1)[0]
    command = block.strip().splitlines()[-1].strip()
    assert command.startswith("python3 -m venv .venv") and "pytest" in command
    assert command in (root / ".ci" / "run").read_text()
