"""Reading the edge's Server-Sent Events as the widget does."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class TurnResult:
    status: int
    events: list[tuple[str, dict[str, Any]]]
    error_body: dict[str, Any] | None = None
    # Each event's SSE `id` ("" when it had none), in the order of `events`.
    ids: list[str] = field(default_factory=list)

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.events]

    def first(self, kind: str) -> dict[str, Any]:
        return next(data for k, data in self.events if k == kind)

    @property
    def answer(self) -> str:
        return "".join(data.get("text", "") for k, data in self.events if k == "delta")


def parse_sse(lines: list[str]) -> list[tuple[str, dict[str, Any]]]:
    return [(kind, data) for kind, data, _ in parse_sse_with_ids(lines)]


def parse_sse_with_ids(lines: list[str]) -> list[tuple[str, dict[str, Any], str]]:
    """Events as (name, data, id); the id is the event's own `id:` line, "" without one."""
    events: list[tuple[str, dict[str, Any], str]] = []
    kind, data, event_id = "message", list[str](), ""
    for line in lines:
        if line == "":
            if data:
                events.append((kind, json.loads("\n".join(data)), event_id))
            kind, data, event_id = "message", list[str](), ""
        elif line.startswith("event:"):
            kind = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif line.startswith("id:"):
            event_id = line[3:].strip()
    if data:
        events.append((kind, json.loads("\n".join(data)), event_id))
    return events


def send_message(
    client: httpx.Client,
    conversation_id: str,
    text: str,
    headers: dict[str, str],
    *,
    client_message_id: str,
    task_id: str = "",
    language_hint: str = "",
    last_event_id: str = "",
    stop_after: int | None = None,
) -> TurnResult:
    """Send one message and read its events. `last_event_id` resumes after that event (the Last-Event-ID
    header); `stop_after` closes the connection once that many events arrived, as a dropped network would."""
    body: dict[str, Any] = {"clientMessageId": client_message_id, "text": text}
    if last_event_id:
        headers = {**headers, "Last-Event-ID": last_event_id}
    if task_id:
        body["pageContext"] = {"taskId": task_id}
    if language_hint:
        body["languageHint"] = language_hint
    with client.stream(
        "POST", f"/v1/conversations/{conversation_id}/messages", json=body, headers=headers, timeout=40
    ) as response:
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            lines: list[str] = []
            for line in response.iter_lines():
                lines.append(line)
                if stop_after is not None and line == "" and len(parse_sse_with_ids(lines)) >= stop_after:
                    break
            parsed = parse_sse_with_ids(lines)
            return TurnResult(
                response.status_code, [(k, d) for k, d, _ in parsed], ids=[i for _, _, i in parsed]
            )
        response.read()
        return TurnResult(response.status_code, [], response.json())


def new_conversation(client: httpx.Client, headers: dict[str, str], task_id: str = "") -> str:
    body = {"pageContext": {"taskId": task_id}} if task_id else {}
    response = client.post("/v1/conversations", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return str(response.json()["conversation"]["conversationId"])
