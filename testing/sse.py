"""Reading the edge's Server-Sent Events as the widget does."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class TurnResult:
    status: int
    events: list[tuple[str, dict[str, Any]]]
    error_body: dict[str, Any] | None = None

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.events]

    def first(self, kind: str) -> dict[str, Any]:
        return next(data for k, data in self.events if k == kind)

    @property
    def answer(self) -> str:
        return "".join(data.get("text", "") for k, data in self.events if k == "delta")


def parse_sse(lines: list[str]) -> list[tuple[str, dict[str, Any]]]:
    events: list[tuple[str, dict[str, Any]]] = []
    kind, data = "message", list[str]()
    for line in lines:
        if line == "":
            if data:
                events.append((kind, json.loads("\n".join(data))))
            kind, data = "message", list[str]()
        elif line.startswith("event:"):
            kind = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
    if data:
        events.append((kind, json.loads("\n".join(data))))
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
) -> TurnResult:
    body: dict[str, Any] = {"clientMessageId": client_message_id, "text": text}
    if task_id:
        body["pageContext"] = {"taskId": task_id}
    if language_hint:
        body["languageHint"] = language_hint
    with client.stream(
        "POST", f"/v1/conversations/{conversation_id}/messages", json=body, headers=headers, timeout=40
    ) as response:
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            return TurnResult(response.status_code, parse_sse(list(response.iter_lines())))
        response.read()
        return TurnResult(response.status_code, [], response.json())


def new_conversation(client: httpx.Client, headers: dict[str, str], task_id: str = "") -> str:
    body = {"pageContext": {"taskId": task_id}} if task_id else {}
    response = client.post("/v1/conversations", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return str(response.json()["conversation"]["conversationId"])
