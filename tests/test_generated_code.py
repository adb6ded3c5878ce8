"""The committed stubs and protoset are what proto/ compiles to with the pinned grpcio-tools."""

from __future__ import annotations

import importlib
import pathlib
import subprocess
import sys

from google.protobuf import descriptor_pb2

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROTOS = sorted(p.stem for p in (ROOT / "proto" / "dolphin" / "v1").glob("*.proto"))


def compile_fresh(out: pathlib.Path) -> descriptor_pb2.FileDescriptorSet:
    from grpc_tools import protoc

    include = pathlib.Path(importlib.import_module("grpc_tools").__file__).parent / "_proto"  # type: ignore[arg-type]
    descriptor = out / "fresh.protoset"
    args = ["protoc", f"-I{ROOT / 'proto'}", f"-I{include}", f"--descriptor_set_out={descriptor}",
            *[f"dolphin/v1/{name}.proto" for name in PROTOS]]
    assert protoc.main(args) == 0
    return descriptor_pb2.FileDescriptorSet.FromString(descriptor.read_bytes())


def without_json_names(fd: descriptor_pb2.FileDescriptorProto) -> descriptor_pb2.FileDescriptorProto:
    """Drop protoc's derived json_name fields, which the runtime descriptor does not keep."""
    def strip(message: descriptor_pb2.DescriptorProto) -> None:
        for field in message.field:
            field.ClearField("json_name")
        for nested in message.nested_type:
            strip(nested)

    for message in fd.message_type:
        strip(message)
    return fd


def test_stubs_match_proto(tmp_path: pathlib.Path) -> None:
    fresh = {f.name: without_json_names(f) for f in compile_fresh(tmp_path).file}
    assert set(fresh) == {f"dolphin/v1/{name}.proto" for name in PROTOS}
    for name in PROTOS:
        module = importlib.import_module(f"dolphin.v1.{name}_pb2")
        committed = descriptor_pb2.FileDescriptorProto()
        module.DESCRIPTOR.CopyToProto(committed)
        stale = f"dolphin/v1/{name}_pb2.py is stale: run proto/generate.py"
        assert committed == fresh[f"dolphin/v1/{name}.proto"], stale


def test_generator_output_is_committed(tmp_path: pathlib.Path) -> None:
    import shutil

    copy = tmp_path / "repo"
    shutil.copytree(ROOT / "proto", copy / "proto")
    (copy / "dolphin" / "v1").mkdir(parents=True)
    subprocess.run([sys.executable, str(copy / "proto" / "generate.py")], check=True)
    for path in sorted((copy / "dolphin" / "v1").iterdir()):
        committed = (ROOT / "dolphin" / "v1" / path.name).read_bytes()
        if path.name == "dolphin.protoset":  # its health file comes from the installed grpcio-health-checking
            assert dolphin_files(path.read_bytes()) == dolphin_files(committed), path.name
        else:
            assert path.read_bytes() == committed, path.name


def dolphin_files(raw: bytes) -> list[descriptor_pb2.FileDescriptorProto]:
    return [f for f in descriptor_pb2.FileDescriptorSet.FromString(raw).file if not f.name.startswith("grpc_health/")]


def test_protoset_holds_health() -> None:
    """grpcurl -protoset can probe health on a server whose reflection needs a token."""
    raw = (ROOT / "dolphin" / "v1" / "dolphin.protoset").read_bytes()
    files = {f.name: f for f in descriptor_pb2.FileDescriptorSet.FromString(raw).file}
    health = files["grpc_health/v1/health.proto"]
    assert health.package == "grpc.health.v1"
    assert {"Check", "Watch"} <= {m.name for m in health.service[0].method}

