"""Regenerate dolphin/v1 stubs and dolphin/v1/dolphin.protoset (with comments) from proto/.

The protoset also holds grpc.health.v1 (from the installed grpcio-health-checking), so that
`grpcurl -protoset dolphin.protoset ... grpc.health.v1.Health/Check` works on a server that needs tokens
for reflection.
"""

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


def add_health(protoset: pathlib.Path) -> None:
    """Append the health service's file to a descriptor set, unless protoc put it there already."""
    from google.protobuf import descriptor_pb2
    from grpc_health.v1 import health_pb2

    files = descriptor_pb2.FileDescriptorSet.FromString(protoset.read_bytes())
    if any(f.name == health_pb2.DESCRIPTOR.name for f in files.file):
        return
    health_pb2.DESCRIPTOR.CopyToProto(files.file.add())
    protoset.write_bytes(files.SerializeToString(deterministic=True))


def main() -> int:
    """Run protoc; returns its exit status."""
    protoset = ROOT / "dolphin" / "v1" / "dolphin.protoset"
    args = [
        "protoc",
        f"-I{PROTO_DIR}",
        f"-I{include_dir()}",
        f"--python_out={ROOT}",
        f"--pyi_out={ROOT}",
        f"--grpc_python_out={ROOT}",
        "--include_imports",
        "--include_source_info",
        f"--descriptor_set_out={protoset}",
        *proto_files(),
    ]
    status = protoc.main(args)
    if status == 0:
        add_health(protoset)
    return status


if __name__ == "__main__":
    sys.exit(main())
