"""The edge refuses JSON whose containers do not match the request message (edge.transcoder)."""

from __future__ import annotations

import pytest
from assist.v1 import coordinator_pb2

from edge.routes import coordinator_routes
from edge.transcoder import BadRequest, build_request

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
