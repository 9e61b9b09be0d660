"""The edge's OpenAPI 3.1 document, derived from the same contract its routes are (`edge.routes`).

Why our own and not a protoc plugin: the document must describe what this edge really does, and its
transcoding has conventions no generic generator knows: the JSON error envelope (`edge.errors`), a server
stream answered as `text/event-stream` whose events are the stream's messages, path fields taken out of the
body, unknown fields refused (`json_format.ParseDict` is strict). Deriving the document from the descriptors
the routes are built from keeps the two from drifting, and a fuzzer (schemathesis, in the tests) reads it to
generate requests. Message schemas follow the proto3 JSON mapping: lowerCamelCase names, 64-bit integers as
decimal strings, enums by name, `Timestamp` as an RFC 3339 string, `null` as the default value.
"""

from __future__ import annotations

from typing import Any, cast

from google.protobuf import descriptor, message

from edge.errors import HTTP_STATUS
from edge.routes import HEADER_FIELDS, HttpRoute, coordinator_routes

Schema = dict[str, Any]
FD = descriptor.FieldDescriptor

_SCALARS: dict[int, Schema] = {
    FD.TYPE_STRING: {"type": "string"},
    FD.TYPE_BOOL: {"type": "boolean"},
    FD.TYPE_DOUBLE: {"type": "number"},
    FD.TYPE_FLOAT: {"type": "number"},
    FD.TYPE_INT32: {"type": "integer", "format": "int32"},
    FD.TYPE_SINT32: {"type": "integer", "format": "int32"},
    FD.TYPE_SFIXED32: {"type": "integer", "format": "int32"},
    FD.TYPE_UINT32: {"type": "integer", "format": "int64", "minimum": 0, "maximum": 2**32 - 1},
    FD.TYPE_FIXED32: {"type": "integer", "format": "int64", "minimum": 0, "maximum": 2**32 - 1},
    FD.TYPE_INT64: {"type": "string", "pattern": "^-?[0-9]{1,19}$"},
    FD.TYPE_SINT64: {"type": "string", "pattern": "^-?[0-9]{1,19}$"},
    FD.TYPE_SFIXED64: {"type": "string", "pattern": "^-?[0-9]{1,19}$"},
    FD.TYPE_UINT64: {"type": "string", "pattern": "^[0-9]{1,20}$"},
    FD.TYPE_FIXED64: {"type": "string", "pattern": "^[0-9]{1,20}$"},
    FD.TYPE_BYTES: {"type": "string", "contentEncoding": "base64"},
}
_WELL_KNOWN: dict[str, Schema] = {
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]{1,9})?s$"},
}
ERROR_SCHEMA: Schema = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {
                    "type": "string",
                    "description": "the gRPC status code's name, e.g. INVALID_ARGUMENT",
                },
                "message": {"type": "string", "description": "a sentence fit for the user; never a trace"},
                "retryable": {"type": "boolean"},
            },
        }
    },
}
# Answers any API route can give besides its own: the transcoder's (400, 413, 415), the edge's auth and
# limits (401, 429), and every status edge.errors maps a gRPC code to.
_EDGE_STATUSES = (400, 401, 413, 415, 429)


class _Components:
    """Collects the schemas of every message reached from the routes, under their full proto names."""

    def __init__(self) -> None:
        self.schemas: dict[str, Schema] = {"Error": ERROR_SCHEMA}

    def ref(self, message: descriptor.Descriptor, *, omit: tuple[str, ...] = ()) -> Schema:
        if message.full_name in _WELL_KNOWN:
            return dict(_WELL_KNOWN[message.full_name])
        name = message.full_name if not omit else f"{message.full_name}.Body"
        if name not in self.schemas:
            self.schemas[name] = {}  # reserve first: messages may refer to themselves
            self.schemas[name] = self._object(message, omit)
        return {"$ref": f"#/components/schemas/{name}"}

    def _object(self, message: descriptor.Descriptor, omit: tuple[str, ...]) -> Schema:
        # proto3 JSON reads `null` as the field's default value, for every field type.
        properties = {
            f.json_name: {"anyOf": [self._field(f), {"type": "null"}]}
            for f in message.fields
            if f.name not in omit
        }
        return {"type": "object", "properties": properties, "additionalProperties": False}

    def _field(self, field: descriptor.FieldDescriptor) -> Schema:
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value = field.message_type.fields_by_name["value"]
            return {"type": "object", "additionalProperties": self._single(value)}
        single = self._single(field)
        if field.is_repeated:
            return {"type": "array", "items": single}
        return single

    def _single(self, field: descriptor.FieldDescriptor) -> Schema:
        if field.message_type is not None:
            return self.ref(field.message_type)
        if field.enum_type is not None:
            return {"type": "string", "enum": [v.name for v in field.enum_type.values]}
        return dict(_SCALARS[field.type])


def _message(message_class: type[message.Message]) -> descriptor.Descriptor:
    """A generated class's descriptor, typed as the pure-Python one (upb's mirrors its API)."""
    return cast(descriptor.Descriptor, message_class.DESCRIPTOR)


def _parameters(route: HttpRoute) -> list[Schema]:
    request = _message(route.request_type)
    params = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
        for name in route.path_fields
    ]
    if route.body == "":
        for field in request.fields:
            if field.name in route.path_fields or field.message_type is not None:
                continue
            schema = _Components()._single(field)
            params.append({"name": field.json_name, "in": "query", "required": False, "schema": schema})
    for header, name in HEADER_FIELDS.items():
        bound = request.fields_by_name.get(name)
        if bound is None:
            continue
        params.append(
            {
                "name": header,
                "in": "header",
                "required": False,
                "description": f"Sets `{bound.json_name}` (the same field may be sent in the body instead).",
                "schema": _Components()._single(bound),
            }
        )
    return params


def _event_schema(stream_message: descriptor.Descriptor, components: _Components) -> Schema:
    """One server-sent event (OpenAPI before 3.2 describes a stream by the schema of each event): `event` is a
    field of the stream's oneof, `data` that field's message as JSON (edge.transcoder._sse_event)."""
    fields = [f for oneof in stream_message.oneofs for f in oneof.fields]
    return {
        "type": "object",
        "required": ["data"],
        "properties": {
            "event": {"type": "string", "enum": [f.name for f in fields]},
            "data": {
                "type": "string",
                "contentMediaType": "application/json",
                # anyOf, not oneOf: a delta's `{"text": ...}` is also a valid (partial) TurnDone.
                "contentSchema": {
                    "anyOf": [components.ref(f.message_type) for f in fields if f.message_type]
                },
            },
            "id": {"type": "string"},
            "retry": {"type": "integer", "minimum": 0},
        },
    }


def _responses(route: HttpRoute, components: _Components) -> Schema:
    if route.server_streaming:
        ok = {
            "description": "Server-sent events: each event is named after the field of the stream's message "
            "it carries, and its data is that field's JSON.",
            "content": {
                "text/event-stream": {"schema": _event_schema(_message(route.response_type), components)}
            },
        }
    else:
        body = components.ref(_message(route.response_type))
        ok = {"description": "OK", "content": {"application/json": {"schema": body}}}
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    statuses = sorted(set(_EDGE_STATUSES) | set(HTTP_STATUS.values()) | {500, 502})
    responses: Schema = {"200": ok}
    for status in statuses:
        responses[str(status)] = {"description": f"error ({status})", **error}
    return responses


def openapi_document(routes: list[HttpRoute] | None = None) -> Schema:
    """The OpenAPI 3.1 document for `routes` (default: the coordinator's public routes)."""
    components = _Components()
    paths: dict[str, Schema] = {}
    for route in routes if routes is not None else coordinator_routes():
        method = route.grpc_path.rsplit("/", 1)[1]
        operation: Schema = {
            "operationId": method,
            "summary": f"{route.grpc_path} over HTTP",
            "parameters": _parameters(route),
            "responses": _responses(route, components),
            "security": [{"bearer": []}],
        }
        if route.body == "*":
            body = components.ref(_message(route.request_type), omit=route.path_fields)
            operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
        paths.setdefault(route.path, {})[route.verb.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Assist mesh edge",
            "version": "v1",
            "description": "The widget's HTTP API, transcoded to assist.v1.CoordinatorService. "
            "Generated from protos/assist/v1/coordinator.proto.",
        },
        "paths": paths,
        "components": {
            "schemas": components.schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }
