"""Regenerate dolphin/v1 stubs and dolphin/v1/dolphin.protoset (with comments) from proto/."""

from __future__ import annotations

import pathlib
import sys

from grpc_tools import protoc

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"


def proto_files() -> list[str]:
    """Return the .proto sources relative to proto/, sorted."""
    return sorted(str(p.relative_to(PROTO_DIR)) for p in (PROTO_DIR / "dolphin" / "v1").glob("*.proto"))


def include_dir() -> str:
    """Return grpc_tools' bundled include dir (google/protobuf/*.proto)."""
    import grpc_tools

    return str(pathlib.Path(grpc_tools.__file__).parent / "_proto")


def main() -> int:
    """Run protoc; returns its exit status."""
    args = [
        "protoc",
        f"-I{PROTO_DIR}",
        f"-I{include_dir()}",
        f"--python_out={ROOT}",
        f"--pyi_out={ROOT}",
        f"--grpc_python_out={ROOT}",
        "--include_imports",
        "--include_source_info",
        f"--descriptor_set_out={ROOT / 'dolphin' / 'v1' / 'dolphin.protoset'}",
        *proto_files(),
    ]
    return protoc.main(args)


if __name__ == "__main__":
    sys.exit(main())
