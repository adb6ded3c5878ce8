"""Proto style: package, naming, enum zero values, comments on everything (grpcurl describe shows them)."""

from __future__ import annotations

import importlib
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROTOS = sorted(p.stem for p in (ROOT / "proto" / "dolphin" / "v1").glob("*.proto"))
# Resource-style RPCs that return the resource itself, as the issue names them.
RESOURCE_RPCS = {"SaveAudience": "Audience", "GetAudience": "Audience"}
# Streaming RPCs whose message types the stream issue names: (request, response).
STREAM_RPCS = {"Mutate": ("MutationBatch", "MutationAck")}


@pytest.mark.parametrize("name", PROTOS)
def test_services_and_messages(name: str) -> None:
    assert name.endswith("_service")
    module = importlib.import_module(f"dolphin.v1.{name}_pb2")
    fd = module.DESCRIPTOR
    assert fd.package == "dolphin.v1"
    for service in fd.services_by_name.values():
        assert service.name.endswith("Service")
        for method in service.methods:
            if method.name in RESOURCE_RPCS:
                assert method.output_type.name == RESOURCE_RPCS[method.name]
                continue
            if method.name in STREAM_RPCS:
                assert (method.input_type.name, method.output_type.name) == STREAM_RPCS[method.name]
                continue
            assert method.input_type.name == f"{method.name}Request"
            assert method.output_type.name == f"{method.name}Response"
    for enum in fd.enum_types_by_name.values():
        prefix = "".join("_" + c if c.isupper() else c.upper() for c in enum.name).lstrip("_")
        assert enum.values[0].name == f"{prefix}_UNSPECIFIED" and enum.values[0].number == 0
        assert all(v.name.startswith(prefix + "_") for v in enum.values)


@pytest.mark.parametrize("name", PROTOS)
def test_everything_has_a_comment(name: str) -> None:
    """Every service, rpc, message, field, enum and enum value has a leading // comment."""
    lines = (ROOT / "proto" / "dolphin" / "v1" / f"{name}.proto").read_text().splitlines()
    for i, line in enumerate(lines):
        stripped = line.strip()
        declares = stripped.startswith(("service ", "rpc ", "message ", "enum ")) or (
            stripped.endswith(";") and "=" in stripped and not stripped.startswith(("syntax", "option")))
        if declares:
            assert lines[i - 1].strip().startswith("//"), f"{name}.proto:{i + 1} has no comment: {stripped}"
