"""Checks on what a caller sends, so a client's mistake is INVALID_ARGUMENT with a clear message."""

from __future__ import annotations

import re
from collections.abc import Sequence

from assist.v1 import common_pb2, coordinator_pb2
from grpc_interceptor.exceptions import InvalidArgument

MAX_TEXT_CHARS = 4000
MAX_COMMENT_CHARS = 2000
_CLIENT_MESSAGE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_URL_MAX = 2048
# The shape of coordinator.turn_events' ids; whether it names an event of the message is checked on resume.
_EVENT_ID = re.compile(r"^[0-9a-f]{32}:(s|[0-9]{1,4}):[0-9]{1,6}$")
# C0 controls but tab, line feed and carriage return, and DEL. NUL cannot be stored at all (PostgreSQL's
# jsonb, under the local MongoDB-wire server, refuses it: the fuzzer's "S\x00" became a 500), and none of
# them is something a person types.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def check_plain_text(value: str, field: str) -> None:
    if _CONTROL.search(value):
        raise InvalidArgument(f"{field} must not contain control characters")


def check_id(value: str, field: str) -> None:
    if not _ID.match(value):
        raise InvalidArgument(f"{field} must be 1 to 64 characters of letters, digits, '-' or '_'")


def check_page_context(page: common_pb2.PageContext) -> None:
    if page.task_id:
        check_id(page.task_id, "page_context.task_id")
    if len(page.page_url) > _URL_MAX:
        raise InvalidArgument(f"page_context.page_url must be at most {_URL_MAX} characters")
    check_plain_text(page.page_url, "page_context.page_url")


def check_converse(request: coordinator_pb2.ConverseRequest) -> None:
    check_id(request.conversation_id, "conversation_id")
    if not _CLIENT_MESSAGE_ID.match(request.client_message_id):
        raise InvalidArgument("client_message_id must be 1 to 64 characters of letters, digits, '-' or '_'")
    if not request.text.strip():
        raise InvalidArgument("text must not be empty")
    if len(request.text) > MAX_TEXT_CHARS:
        raise InvalidArgument(f"text must be at most {MAX_TEXT_CHARS} characters")
    check_plain_text(request.text, "text")
    check_page_context(request.page_context)
    if request.last_event_id and not _EVENT_ID.match(request.last_event_id):
        raise InvalidArgument("last_event_id must be an event id this stream sent (its `id` field)")


def check_comment(comment: str) -> None:
    if len(comment) > MAX_COMMENT_CHARS:
        raise InvalidArgument(f"comment must be at most {MAX_COMMENT_CHARS} characters")
    check_plain_text(comment, "comment")


def check_rating(rating: int) -> None:
    if rating not in (common_pb2.FEEDBACK_RATING_UP, common_pb2.FEEDBACK_RATING_DOWN):
        raise InvalidArgument("rating must be FEEDBACK_RATING_UP or FEEDBACK_RATING_DOWN")


def check_score(score: int) -> None:
    if not 1 <= score <= 5:
        raise InvalidArgument("score must be between 1 and 5")


MAX_STUDY_RECORDS = 50


def check_study_records(records: Sequence[coordinator_pb2.StudyRecord]) -> None:
    """Ids and counts; the store checks what each record's kind requires (mesh/storage/study.py)."""
    if not 1 <= len(records) <= MAX_STUDY_RECORDS:
        raise InvalidArgument(f"records must hold 1 to {MAX_STUDY_RECORDS} records")
    for i, record in enumerate(records):
        check_id(record.record_id, f"records[{i}].record_id")
        check_id(record.session_id, f"records[{i}].session_id")
        if record.task_id:
            check_id(record.task_id, f"records[{i}].task_id")
