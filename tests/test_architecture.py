"""Import rules between layers (see README: Layout of the code)."""

from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def imports_of(package: str) -> list[tuple[str, str]]:
    """Return (file, imported module) for every import in a package's own files (generated stubs excluded)."""
    out = []
    base = ROOT / package.replace(".", "/")
    files = [base.with_suffix(".py")] if base.with_suffix(".py").exists() else sorted(base.rglob("*.py"))
    for path in files:
        if "/v1/" in str(path):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                out.extend((str(path.relative_to(ROOT)), alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                out.append((str(path.relative_to(ROOT)), node.module))
    return out


def starts(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


CLUSTER = ("ray", "dolphin.cluster")  # only the cluster (and the CLI) know Ray
FORBIDDEN = {
    "dolphin.query": (*CLUSTER, "grpc", "google.protobuf", "dolphin.v1", "dolphin.server", "dolphin.engine",
                      "dolphin.storage", "asyncio", "pyroaring", "numpy", "polars", "loaders", "dolphin.client"),
    "dolphin.storage": (*CLUSTER, "grpc", "google.protobuf", "dolphin.v1", "dolphin.server", "dolphin.engine",
                        "dolphin.query", "asyncio", "loaders", "dolphin.client"),
    "dolphin.engine": (*CLUSTER, "grpc", "google.protobuf", "dolphin.v1", "dolphin.server", "asyncio", "loaders",
                       "dolphin.client", "dolphin.stream", "dolphin.lookalike"),
    # the write side: engine, storage, query and errors only
    "dolphin.stream": (*CLUSTER, "grpc", "google.protobuf", "dolphin.v1", "dolphin.server", "asyncio", "loaders",
                       "dolphin.client", "dolphin.lookalike", "dolphin.cli", "dolphin.sink"),
    "dolphin.lookalike": (*CLUSTER, "grpc", "google.protobuf", "dolphin.v1", "dolphin.server", "asyncio", "loaders",
                          "dolphin.client"),
    "dolphin.server": (*CLUSTER, "loaders", "dolphin.storage", "dolphin.client", "dolphin.cli"),
    "dolphin.client": (*CLUSTER, "dolphin.engine", "dolphin.storage", "dolphin.query", "pyroaring", "dolphin.server",
                       "loaders", "numpy", "polars"),
    "dolphin.sink": (*CLUSTER, "dolphin.engine", "dolphin.storage", "dolphin.query", "pyroaring", "dolphin.server",
                     "loaders", "numpy", "polars"),
    "dolphin.failpoints": ("dolphin", "grpc"),
    "loaders": (*CLUSTER, "dolphin.engine", "dolphin.stream", "dolphin.server", "grpc", "dolphin.v1"),
    "dolphin.errors": ("dolphin", "grpc"),
    "dolphin.config": ("dolphin.engine", "dolphin.server", "dolphin.storage", "grpc"),
    # the cluster wraps single-node servers in Ray actors; nothing below it knows it exists
    "dolphin.cluster": ("loaders", "dolphin.cli"),
}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layer_imports(package: str) -> None:
    bad = [(f, m) for f, m in imports_of(package)
           if starts(m, FORBIDDEN[package]) and not (package in ("dolphin.errors", "dolphin.failpoints")
                                                     and m == "__future__")
           and not (package == "dolphin.config" and m == "dolphin.errors")]
    assert not bad, f"{package} imports what it must not: {bad}"


def test_http_is_one_module_of_the_server() -> None:
    """The HTTP API transcodes onto the servicers in one place; no servicer knows HTTP exists."""
    users = sorted({f for package in ("dolphin", "loaders") for f, m in imports_of(package) if starts(m, ("aiohttp",))})
    assert users == ["dolphin/server/http_api.py"]


def test_client_import_stays_light() -> None:
    import subprocess
    import sys

    code = "import sys, dolphin.client; print(sorted(m for m in ('pyroaring', 'polars', 'numpy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def attribute_reads(package: str, name: str) -> list[str]:
    """Return file:line of every `<something>.<name>` in a package's own files."""
    out = []
    for path in sorted((ROOT / package.replace(".", "/")).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr == name:
                out.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return out


@pytest.mark.parametrize("package", ["dolphin.server", "dolphin.stream", "dolphin.lookalike", "loaders"])
def test_only_the_engine_touches_its_snapshot_reference(package: str) -> None:
    """The engine is the one writer of the served state: others read engine.snapshot() and write through
    engine.publish, never through a reference of their own."""
    assert attribute_reads(package, "ref") == [] and attribute_reads(package, "_ref") == []


def test_the_engine_takes_no_attribute_hooks() -> None:
    from dolphin.engine import Engine

    engine = Engine(ROOT / "no-such-dir", load=False)
    assert not [name for name, value in vars(engine).items() if callable(value) and not name.startswith("_")]
    assert not hasattr(engine, "ref") and not hasattr(engine, "adopt_version")


@pytest.mark.parametrize("package", ["dolphin.server", "dolphin.lookalike", "loaders", "dolphin.query",
                                     "dolphin.storage"])
def test_only_the_write_side_publishes_states(package: str) -> None:
    """Engine.publish is the one door for new states: the engine's own reload and dolphin.stream use it."""
    assert attribute_reads(package, "publish") == []
