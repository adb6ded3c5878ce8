"""The OpenAPI 3.1 document of the HTTP API, generated from the proto descriptors and their comments.

Schemas follow the proto3 JSON mapping that json_format reads and writes: lowerCamelCase names, 64-bit
integers as strings (numbers are accepted too), enums by name, bytes as base64, Timestamp as RFC 3339.
Descriptions are the .proto comments, kept in the shipped dolphin.protoset (maintenance.documented_files).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import FieldDescriptor, MethodDescriptor

from dolphin import __version__
from dolphin.server.auth import required_role
from dolphin.server.maintenance import documented_files

Schema = dict[str, Any]
_T = descriptor_pb2.FieldDescriptorProto
SCALARS: dict[int, Schema] = {
    _T.TYPE_DOUBLE: {"type": "number", "format": "double"},
    _T.TYPE_FLOAT: {"type": "number", "format": "float"},
    _T.TYPE_INT32: {"type": "integer", "format": "int32"},
    _T.TYPE_SINT32: {"type": "integer", "format": "int32"},
    _T.TYPE_SFIXED32: {"type": "integer", "format": "int32"},
    _T.TYPE_UINT32: {"type": "integer", "format": "int64", "minimum": 0, "maximum": 2**32 - 1},
    _T.TYPE_FIXED32: {"type": "integer", "format": "int64", "minimum": 0, "maximum": 2**32 - 1},
    _T.TYPE_INT64: {"type": ["string", "integer"], "format": "int64"},
    _T.TYPE_SINT64: {"type": ["string", "integer"], "format": "int64"},
    _T.TYPE_SFIXED64: {"type": ["string", "integer"], "format": "int64"},
    _T.TYPE_UINT64: {"type": ["string", "integer"], "format": "uint64"},
    _T.TYPE_FIXED64: {"type": ["string", "integer"], "format": "uint64"},
    _T.TYPE_BOOL: {"type": "boolean"},
    _T.TYPE_STRING: {"type": "string"},
    _T.TYPE_BYTES: {"type": "string", "contentEncoding": "base64"},
}
WELL_KNOWN: dict[str, Schema] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
}
# Source-location paths (descriptor.proto): a file's message_type 4, enum_type 5, service 6; a message's field 2,
# nested_type 3, enum_type 4; a service's method 2.
MESSAGE, ENUM, SERVICE, FIELD, NESTED, NESTED_ENUM, METHOD = 4, 5, 6, 2, 3, 4, 2


def comments_by_name() -> dict[str, str]:
    """Return the leading comment of every message, field, enum, service and method, by full name."""
    found: dict[str, str] = {}
    for file in documented_files().values():
        located = {tuple(loc.path): _prose(loc.leading_comments) for loc in file.source_code_info.location
                   if loc.leading_comments.strip()}
        for i, message in enumerate(file.message_type):
            _visit_message(found, located, message, file.package, (MESSAGE, i))
        for i, enum in enumerate(file.enum_type):
            _keep(found, f"{file.package}.{enum.name}", located.get((ENUM, i)))
        for i, service in enumerate(file.service):
            name = f"{file.package}.{service.name}"
            _keep(found, name, located.get((SERVICE, i)))
            for j, method in enumerate(service.method):
                _keep(found, f"{name}.{method.name}", located.get((SERVICE, i, METHOD, j)))
    return found


def _visit_message(found: dict[str, str], located: dict[tuple[int, ...], str],
                   message: descriptor_pb2.DescriptorProto, prefix: str, path: tuple[int, ...]) -> None:
    """Keep the comments of a message, its fields, nested messages and nested enums."""
    name = f"{prefix}.{message.name}"
    _keep(found, name, located.get(path))
    for i, field in enumerate(message.field):
        _keep(found, f"{name}.{field.name}", located.get((*path, FIELD, i)))
    for i, nested in enumerate(message.nested_type):
        _visit_message(found, located, nested, name, (*path, NESTED, i))
    for i, enum in enumerate(message.enum_type):
        _keep(found, f"{name}.{enum.name}", located.get((*path, NESTED_ENUM, i)))


def _prose(comment: str) -> str:
    """Return a comment as prose: lines joined, blank lines kept as paragraph breaks."""
    paragraphs = [" ".join(line.strip() for line in block.splitlines()) for block in comment.strip().split("\n\n")]
    return "\n\n".join(p for p in paragraphs if p)


def _summary(description: str, fallback: str) -> str:
    """Return a description's first sentence."""
    first, dot, _ = description.partition(". ")
    return (first + dot).strip() if first else fallback


def _keep(found: dict[str, str], name: str, comment: str | None) -> None:
    if comment:
        found[name] = comment


class _Schemas:
    """Collects the component schemas a set of methods reaches."""

    def __init__(self, comments: dict[str, str]) -> None:
        self.comments = comments
        self.components: dict[str, Schema] = {}

    def reference(self, full_name: str, build: Any) -> Schema:
        if full_name in WELL_KNOWN:
            return dict(WELL_KNOWN[full_name])
        if full_name not in self.components:
            self.components[full_name] = {}  # placed first: messages may refer to themselves
            self.components[full_name] = build()
        return {"$ref": f"#/components/schemas/{full_name}"}

    def message(self, descriptor: Any) -> Schema:
        return self.reference(descriptor.full_name, lambda: self._object(descriptor))

    def _object(self, descriptor: Any) -> Schema:
        schema: Schema = {"type": "object", "properties": {
            field.json_name: self.field(field) for field in descriptor.fields}, "additionalProperties": False}
        self._describe(schema, descriptor.full_name)
        return schema

    def field(self, field: FieldDescriptor) -> Schema:
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value = field.message_type.fields_by_name["value"]
            schema: Schema = {"type": "object", "additionalProperties": self._single(value)}
        elif field.is_repeated:
            schema = {"type": "array", "items": self._single(field)}
        else:
            schema = self._single(field)
        self._describe(schema, field.full_name)
        return schema

    def _single(self, field: FieldDescriptor) -> Schema:
        if field.message_type is not None:
            return self.message(field.message_type)
        if field.enum_type is not None:
            enum = field.enum_type
            return self.reference(enum.full_name, lambda: self._describe(
                {"type": "string", "enum": [value.name for value in enum.values]}, enum.full_name))
        return dict(SCALARS[field.type])

    def _describe(self, schema: Schema, full_name: str) -> Schema:
        comment = self.comments.get(full_name)
        if comment:  # OpenAPI 3.1 lets a $ref carry a description beside it
            schema["description"] = comment
        return schema


ERROR_SCHEMA: Schema = {
    "type": "object",
    "description": "A failed call: google.rpc.Status's code and message, the status name, and Dolphin's error "
                   "class (also in the dolphin-error header).",
    "properties": {
        "code": {"type": "integer", "description": "gRPC status code, e.g. 3 for INVALID_ARGUMENT"},
        "status": {"type": "string", "description": "gRPC status name, e.g. INVALID_ARGUMENT"},
        "message": {"type": "string", "description": "what went wrong, for a person"},
        "errorClass": {"type": "string", "description": "Dolphin's exception class, e.g. ParseError"},
    },
    "required": ["code", "status", "message"],
}


def _operation(method: MethodDescriptor, schemas: _Schemas, secured: bool) -> Schema:
    path = f"/{method.containing_service.full_name}/{method.name}"
    role = required_role(path)
    reply = schemas.message(method.output_type)
    if method.server_streaming:
        content = {"application/x-ndjson": {"schema": {
            "type": "object", "description": "one line per message: {\"result\": message}, or a last "
            "{\"error\": status} when the stream failed after its first message",
            "properties": {"result": reply, "error": {"$ref": "#/components/schemas/Error"}}}}}
    else:
        content = {"application/json": {"schema": reply}}
    operation: Schema = {
        "operationId": f"{method.containing_service.name}_{method.name}",
        "tags": [method.containing_service.full_name],
        "summary": _summary(schemas.comments.get(method.full_name, ""), method.name),
        "description": schemas.comments.get(method.full_name, ""),
        "requestBody": {"required": False, "content": {"application/json": {"schema": schemas.message(
            method.input_type)}}},
        "responses": {"200": {"description": "OK", "content": content}, "default": {
            "description": "an error, with the HTTP status of its gRPC code",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}},
        "x-dolphin-role": role or "none",
    }
    if secured and role is not None:
        operation["security"] = [{"bearer": []}]
    return operation


def document(paths: Sequence[str], *, secured: bool) -> Schema:
    """Return the OpenAPI document of these gRPC methods (`/pkg.Service/Method`) as HTTP POST operations."""
    pool = descriptor_pool.Default()
    schemas = _Schemas(comments_by_name())
    operations: dict[str, Schema] = {}
    for path in paths:
        service, _, name = path.strip("/").partition("/")
        method = pool.FindServiceByName(service).methods_by_name[name]
        operations[f"/v1{path}"] = {"post": _operation(method, schemas, secured)}
    components: Schema = {"schemas": {**dict(sorted(schemas.components.items())), "Error": ERROR_SCHEMA}}
    if secured:
        components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer",
                                                    "description": "a token of the server's --auth-tokens file"}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Dolphin HTTP/JSON API", "version": __version__,
                 "description": "Every unary RPC of Dolphin's gRPC API as POST /v1/<service>/<Method>, with the "
                                "proto3 JSON mapping. Server-streaming methods answer newline-delimited JSON."},
        "paths": operations,
        "components": components,
    }
