"""Turns an HTTP request into a gRPC call on the coordinator and its answer into JSON or SSE."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

import grpc
from google.protobuf import json_format, message
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from edge.errors import error_response, grpc_error_response, turn_error_fields
from edge.routes import HEADER_FIELDS, HttpRoute
from mesh.admission import Overloaded, TurnAdmission
from mesh.auth import USER_ID_METADATA_KEY

log = logging.getLogger(__name__)


class BadRequest(Exception):
    """The client sent something we cannot turn into a request; the message says what."""


async def read_json_body(request: Request, max_bytes: int) -> dict[str, Any]:
    """Read at most max_bytes of JSON object; raise BadRequest (or a 413/415 marker) otherwise."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLarge(max_bytes)
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise UnsupportedMediaType()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLarge(max_bytes)
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw:  # no body: no fields. Whitespace alone is not JSON (RFC 8259), so it is refused below.
        return {}
    try:
        value = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the body is not valid JSON: {exc.msg if hasattr(exc, 'msg') else exc}") from exc
    if not isinstance(value, dict):
        raise BadRequest("the body must be a JSON object")
    return value


class PayloadTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the body is larger than {limit} bytes")


class UnsupportedMediaType(Exception):
    def __init__(self) -> None:
        super().__init__("send the body as application/json")


def build_request(
    route: HttpRoute,
    body: dict[str, Any],
    path_params: dict[str, str],
    query: dict[str, str],
    headers: Mapping[str, str] | None = None,
) -> message.Message:
    """Fill the request message from the JSON body (body '*'), the query string (no body), the path, and
    the headers that stand for fields (edge.routes.HEADER_FIELDS: `Last-Event-ID`)."""
    fields: dict[str, Any] = dict(body) if route.body == "*" else {}
    for header, name in HEADER_FIELDS.items():
        value = (headers or {}).get(header)
        field = route.request_type.DESCRIPTOR.fields_by_name.get(name)
        if value is None or field is None:
            continue
        for key in {name, field.json_name}:
            if key in fields and fields.pop(key) != value:
                raise BadRequest(f"{key} in the body does not match the {header} header")
        fields[field.json_name] = value
    if route.body == "":
        descriptor = route.request_type.DESCRIPTOR
        for key, value in query.items():
            field = descriptor.fields_by_name.get(key) or next(
                (f for f in descriptor.fields if f.json_name == key), None
            )
            if field is None:
                raise BadRequest(f"unknown query parameter {key!r}")
            fields[field.json_name] = value
    for name in route.path_fields:
        json_name = route.request_type.DESCRIPTOR.fields_by_name[name].json_name
        for key in (name, json_name):
            if key in fields and fields[key] != path_params[name]:
                raise BadRequest(f"{key} in the body does not match the URL")
            fields.pop(key, None)
        fields[json_name] = path_params[name]
    check_json_shape(fields, route.request_type.DESCRIPTOR)
    try:
        return json_format.ParseDict(fields, route.request_type())
    except json_format.ParseError as exc:
        raise BadRequest(f"the body does not match the request shape: {exc}") from exc


# Well-known types whose JSON form is not an object (google.protobuf.Timestamp is a string, ...).
_SCALAR_MESSAGES = frozenset(
    f"google.protobuf.{name}"
    for name in (
        *("Timestamp", "Duration", "FieldMask", "Value", "ListValue", "Struct", "Any"),
        *("DoubleValue", "FloatValue", "Int64Value", "UInt64Value", "Int32Value", "UInt32Value"),
        *("BoolValue", "StringValue", "BytesValue"),
    )
)


def check_json_shape(value: dict[str, Any], message_descriptor: Any, where: str = "") -> None:
    """Refuse JSON whose containers do not match the message: `json_format.ParseDict` quietly reads `[]`
    as an empty message (found by the fuzzer: `{"pageContext": []}` was accepted), so a client's mistake
    would be stored instead of explained. Only containers are checked; ParseDict checks the scalars."""
    for key, item in value.items():
        field = message_descriptor.fields_by_name.get(key) or next(
            (f for f in message_descriptor.fields if f.json_name == key), None
        )
        if field is None or item is None:
            continue  # ParseDict names unknown fields itself
        path = f"{where}{field.json_name}"
        is_map = field.message_type is not None and field.message_type.GetOptions().map_entry
        if field.is_repeated and not is_map:
            if not isinstance(item, list):
                raise BadRequest(f"{path} must be an array")
            elements = item
        else:
            elements = [item]
        if field.message_type is None or field.message_type.full_name in _SCALAR_MESSAGES:
            continue
        for element in elements:
            if not isinstance(element, dict):
                raise BadRequest(f"{path} must be an object")
            if not is_map:
                check_json_shape(element, field.message_type, f"{path}.")


def to_json(msg: message.Message) -> dict[str, Any]:
    return json_format.MessageToDict(msg)


class Transcoder:
    """Calls the coordinator for one route on behalf of a verified user."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
        *,
        unary_timeout_s: float,
        turn_timeout_s: float,
        admission: TurnAdmission | None = None,
    ) -> None:
        self._channel = channel
        self._unary_timeout = unary_timeout_s
        self._turn_timeout = turn_timeout_s
        self._admission = admission or TurnAdmission("edge", 0)

    async def call(self, route: HttpRoute, request_msg: message.Message, user_id: str) -> Response:
        metadata = ((USER_ID_METADATA_KEY, user_id),)
        if route.server_streaming:
            try:
                self._admission.enter()
            except Overloaded as exc:
                return error_response(
                    503, "UNAVAILABLE", str(exc), retryable=True, retry_after_s=exc.retry_after_s
                )
            try:
                return await self._stream(route, request_msg, metadata)
            except BaseException:
                self._admission.leave()
                raise
        method = self._channel.unary_unary(
            route.grpc_path,
            request_serializer=route.request_type.SerializeToString,
            response_deserializer=route.response_type.FromString,
        )
        try:
            response = await method(request_msg, timeout=self._unary_timeout, metadata=metadata)
        except grpc.aio.AioRpcError as exc:
            return grpc_error_response(exc)
        return JSONResponse(to_json(response))

    async def _stream(
        self, route: HttpRoute, request_msg: message.Message, metadata: tuple[tuple[str, str], ...]
    ) -> Response:
        method = self._channel.unary_stream(
            route.grpc_path,
            request_serializer=route.request_type.SerializeToString,
            response_deserializer=route.response_type.FromString,
        )
        call = method(request_msg, timeout=self._turn_timeout, metadata=metadata)
        events = call.__aiter__()
        # Wait for the first event: a failure before the turn is accepted is a plain HTTP error.
        try:
            first = await events.__anext__()
        except StopAsyncIteration:
            self._admission.leave()
            return error_response(502, "INTERNAL", "the coordinator closed the stream without an answer")
        except grpc.aio.AioRpcError as exc:
            self._admission.leave()
            return grpc_error_response(exc)

        async def sse() -> AsyncIterator[bytes]:
            try:
                yield _sse_event(first)
                async for event in events:
                    yield _sse_event(event)
            except grpc.aio.AioRpcError as exc:
                yield _sse_frame("error", turn_error_fields(exc))
            finally:
                call.cancel()
                self._admission.leave()

        return StreamingResponse(
            sse(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache, no-transform", "X-Accel-Buffering": "no"},
        )


def _sse_event(event: message.Message) -> bytes:
    kind = event.WhichOneof("event")
    if kind is None:
        return b": keep-alive\n\n"
    # The event's id is the SSE `id:` field (sent back as Last-Event-ID to resume), not part of its data.
    return _sse_frame(kind, to_json(getattr(event, kind)), event_id=getattr(event, "event_id", ""))


def _sse_frame(kind: str, data: dict[str, Any], *, event_id: str = "") -> bytes:
    """One event. The id comes from the coordinator's own alphabet (coordinator.turn_events), so it never
    holds the LF, CR or NUL that the SSE grammar forbids there."""
    id_line = f"id: {event_id}\n" if event_id else ""
    payload = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return f"{id_line}event: {kind}\ndata: {payload}\n\n".encode()
