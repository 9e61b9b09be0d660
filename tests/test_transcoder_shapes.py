"""The edge refuses JSON whose containers do not match the request message (edge.transcoder)."""

from __future__ import annotations

import pytest
from assist.v1 import coordinator_pb2
from starlette.datastructures import Headers

from edge.routes import coordinator_routes
from edge.transcoder import BadRequest, _sse_event, build_request

CONVERSE = next(r for r in coordinator_routes() if r.grpc_path.endswith("/Converse"))


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        ({"text": "hi", "clientMessageId": "m1", "pageContext": []}, "pageContext must be an object"),
        ({"text": "hi", "clientMessageId": "m1", "pageContext": "T-1"}, "pageContext must be an object"),
    ],
)
def test_an_array_or_string_where_an_object_belongs_is_a_clear_400(
    body: dict[str, object], complaint: str
) -> None:
    with pytest.raises(BadRequest, match=complaint):
        build_request(CONVERSE, body, {"conversation_id": "c1"}, {})


def test_null_reads_as_the_default_value_as_proto3_json_says() -> None:
    request = build_request(
        CONVERSE, {"text": "hi", "clientMessageId": "m1", "pageContext": None}, {"conversation_id": "c1"}, {}
    )
    assert isinstance(request, coordinator_pb2.ConverseRequest)
    assert not request.HasField("page_context") and request.conversation_id == "c1"


def test_the_last_event_id_header_becomes_the_last_event_id_field() -> None:
    headers = Headers({"last-event-id": "0123456789abcdef0123456789abcdef:0:3"})
    request = build_request(
        CONVERSE, {"text": "hi", "clientMessageId": "m1"}, {"conversation_id": "c1"}, {}, headers
    )
    assert isinstance(request, coordinator_pb2.ConverseRequest)
    assert request.last_event_id == "0123456789abcdef0123456789abcdef:0:3"


def test_a_last_event_id_in_the_body_that_differs_from_the_header_is_a_400() -> None:
    body = {"text": "hi", "clientMessageId": "m1", "lastEventId": "a:0:1"}
    with pytest.raises(BadRequest, match="does not match the Last-Event-ID header"):
        build_request(CONVERSE, body, {"conversation_id": "c1"}, {}, Headers({"Last-Event-ID": "b:0:1"}))


def test_a_stream_event_carries_its_id_as_the_sse_id_line_and_not_in_its_data() -> None:
    event = coordinator_pb2.ConverseResponse(event_id="u:0:3", delta=coordinator_pb2.TextDelta(text="Hi"))
    assert _sse_event(event) == b'id: u:0:3\nevent: delta\ndata: {"text":"Hi"}\n\n'
