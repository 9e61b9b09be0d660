"""The edge's OpenAPI document (edge.openapi) says what the transcoder really accepts and answers."""

from __future__ import annotations

from typing import Any

import jsonschema
import schemathesis
from assist.v1 import coordinator_pb2
from google.protobuf import json_format

from edge.openapi import openapi_document
from edge.routes import coordinator_routes


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_every_contract_route_is_an_operation_named_after_its_rpc() -> None:
    document = openapi_document()
    for route in coordinator_routes():
        operation = document["paths"][route.path][route.verb.lower()]
        assert operation["operationId"] == route.grpc_path.rsplit("/", 1)[1]
        assert {p["name"] for p in operation["parameters"] if p["in"] == "path"} == set(route.path_fields)
        assert operation["security"] == [{"bearer": []}]


def test_document_is_valid_openapi_that_schemathesis_loads() -> None:
    schema = schemathesis.openapi.from_dict(openapi_document())
    labels = {result.ok().label for result in schema.get_all_operations()}  # type: ignore[union-attr]
    assert "POST /v1/conversations/{conversation_id}/messages" in labels


def test_request_body_matches_the_proto3_json_the_edge_parses() -> None:
    document = openapi_document()
    converse = document["paths"]["/v1/conversations/{conversation_id}/messages"]["post"]
    body = _resolve(document, converse["requestBody"]["content"]["application/json"]["schema"])
    assert "conversationId" not in body["properties"], "path fields come from the URL, not the body"
    assert body["additionalProperties"] is False, "the transcoder refuses unknown fields"
    valid = {
        "clientMessageId": "m-1",
        "text": "what is late?",
        "languageHint": "LANGUAGE_EN",
        "pageContext": {"taskId": "T-1"},
    }
    validator = jsonschema.Draft202012Validator({**body, "components": document["components"]})
    assert list(validator.iter_errors(valid)) == []
    json_format.ParseDict(valid, coordinator_pb2.ConverseRequest())  # what the schema accepts, protobuf does
    assert list(validator.iter_errors({**valid, "languageHint": "KLINGON"}))
    assert list(validator.iter_errors({**valid, "txet": "typo"}))


def test_stream_answers_as_server_sent_events_and_errors_share_one_envelope() -> None:
    document = openapi_document()
    converse = document["paths"]["/v1/conversations/{conversation_id}/messages"]["post"]["responses"]
    assert "text/event-stream" in converse["200"]["content"]
    for status in ("400", "401", "404", "429", "503"):
        assert converse[status]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"
        }
    assert document["components"]["schemas"]["Error"]["required"] == ["error"]


def test_the_turn_route_documents_the_last_event_id_header_that_resumes_a_stream() -> None:
    operation = openapi_document()["paths"]["/v1/conversations/{conversation_id}/messages"]["post"]
    headers = [p for p in operation["parameters"] if p["in"] == "header"]
    assert [(p["name"], p["required"], p["schema"]["type"]) for p in headers] == [
        ("Last-Event-ID", False, "string")
    ]
    listing = openapi_document()["paths"]["/v1/conversations"]["get"]
    assert all(p["in"] != "header" for p in listing["parameters"]), "only routes with the field get it"
