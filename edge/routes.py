"""HTTP routes read from the contract's `google.api.http` options, so routes are declared in one place."""

from __future__ import annotations

import re
from dataclasses import dataclass

from assist.v1 import coordinator_pb2
from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor, message, message_factory

_SIMPLE_VARIABLE = re.compile(r"\{([a-z_][a-z0-9_]*)\}")

# Request fields that HTTP carries in a header (google.api.http has no header binding, so the edge declares
# them here): header name -> field, for every request message that has the field. The SSE
# specification's reconnection header names the last event received (ConverseRequest.last_event_id).
HEADER_FIELDS: dict[str, str] = {"Last-Event-ID": "last_event_id"}


@dataclass(frozen=True)
class HttpRoute:
    """One RPC reachable over HTTP."""

    verb: str
    path: str  # Starlette path syntax: /v1/conversations/{conversation_id}/messages
    body: str  # "*" (the whole JSON body is the request) or "" (no body)
    path_fields: tuple[str, ...]
    grpc_path: str  # /assist.v1.CoordinatorService/Converse
    request_type: type[message.Message]
    response_type: type[message.Message]
    server_streaming: bool


def _verb_and_template(rule: http_pb2.HttpRule) -> tuple[str, str]:
    pattern = rule.WhichOneof("pattern")
    if pattern is None or pattern == "custom":
        raise ValueError(f"unsupported http rule pattern {pattern!r} on {rule.selector}")
    return pattern.upper(), getattr(rule, pattern)


def routes_for(service: descriptor.ServiceDescriptor) -> list[HttpRoute]:
    """Every method of service that carries a `google.api.http` option, as an HttpRoute."""
    out: list[HttpRoute] = []
    for method in service.methods:
        options = method.GetOptions()
        if not options.HasExtension(annotations_pb2.http):
            continue
        rule: http_pb2.HttpRule = options.Extensions[annotations_pb2.http]
        verb, template = _verb_and_template(rule)
        fields = tuple(_SIMPLE_VARIABLE.findall(template))
        leftover = _SIMPLE_VARIABLE.sub("", template)
        if "{" in leftover or "}" in leftover:
            raise ValueError(f"{method.full_name}: only simple {{field}} path variables are supported")
        if rule.body not in ("", "*"):
            raise ValueError(f"{method.full_name}: body must be '*' or empty")
        for name in fields:
            if name not in method.input_type.fields_by_name:
                raise ValueError(f"{method.full_name}: path variable {name} is not a request field")
        out.append(
            HttpRoute(
                verb=verb,
                path=template,
                body=rule.body,
                path_fields=fields,
                grpc_path=f"/{service.full_name}/{method.name}",
                request_type=message_factory.GetMessageClass(method.input_type),
                response_type=message_factory.GetMessageClass(method.output_type),
                server_streaming=method.server_streaming,
            )
        )
    return out


def coordinator_routes() -> list[HttpRoute]:
    """The public API's routes."""
    return routes_for(coordinator_pb2.DESCRIPTOR.services_by_name["CoordinatorService"])
