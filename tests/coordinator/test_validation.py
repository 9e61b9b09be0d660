"""What a caller sends is checked before anything is stored (coordinator.validation)."""

from __future__ import annotations

import pytest
from assist.v1 import common_pb2, coordinator_pb2
from grpc_interceptor.exceptions import InvalidArgument

from coordinator.validation import check_comment, check_converse


def _converse(text: str, page_url: str = "") -> coordinator_pb2.ConverseRequest:
    return coordinator_pb2.ConverseRequest(
        conversation_id="c1",
        client_message_id="m1",
        text=text,
        page_context=common_pb2.PageContext(page_url=page_url),
    )


@pytest.mark.parametrize("text", ["S\x00\u00d2<", "bell \x07", "escape \x1b[31m", "del \x7f"])
def test_a_message_with_control_characters_is_refused_before_it_reaches_the_store(text: str) -> None:
    with pytest.raises(InvalidArgument, match="text must not contain control characters"):
        check_converse(_converse(text))


def test_tabs_and_line_breaks_are_ordinary_text() -> None:
    check_converse(_converse("line one\r\nline two\tand a tab"))


def test_comments_and_page_urls_are_held_to_the_same_rule() -> None:
    with pytest.raises(InvalidArgument, match="comment"):
        check_comment("nul \x00")
    with pytest.raises(InvalidArgument, match="page_url"):
        check_converse(_converse("hi", page_url="https://x.test/\x00"))
