"""One turn over HTTP as the widget sends it (POST, then read the Server-Sent Events), timed and classified.

The same client drives the mesh's edge and the raw skeleton's, which serve the same two routes with the
same event names, so the two are measured by identical code.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field

import httpx

from testing.sse import parse_sse

REFUSED = "refused (503 + Retry-After)"


@dataclass
class TurnOutcome:
    """What one turn ended in: `done`, or the reason it did not."""

    seconds: float
    status: int
    kinds: list[str] = field(default_factory=list)
    error_code: str = ""  # the SSE `error` event's or the JSON error body's code
    retry_after_s: float | None = None
    transport_error: str = ""
    # The error's own word on whether sending the same message again may succeed (SSE `error` or JSON body).
    retryable: bool = False
    # From the `done` event: the stored turn's id, the parts that could not help, and who wrote the answer.
    message_id: str = ""
    degraded: tuple[str, ...] = ()
    writer: str = ""

    @property
    def done(self) -> bool:
        return bool(self.kinds) and self.kinds[-1] == "done"

    @property
    def deltas(self) -> int:
        return self.kinds.count("delta")

    @property
    def failure(self) -> str:
        """ "" for a done turn; else a short class of failure for the report."""
        if self.done:
            return ""
        if self.transport_error:
            return f"transport: {self.transport_error}"
        if self.status == 503 and self.retry_after_s is not None:
            return REFUSED
        if self.status != 200:
            return f"HTTP {self.status} {self.error_code}".rstrip()
        if "error" in self.kinds:
            return f"SSE error {self.error_code}".rstrip()
        return "stream ended without done"


async def send_turn(
    client: httpx.AsyncClient,
    conversation_id: str,
    text: str,
    headers: dict[str, str],
    *,
    client_message_id: str = "",
) -> TurnOutcome:
    """Send one message and read its events to the end; never raises for a failed turn.

    Pass the same `client_message_id` again to resend a message (after a refusal), as the widget does.
    """
    body = {"clientMessageId": client_message_id or uuid.uuid4().hex, "text": text}
    started = time.perf_counter()
    try:
        async with client.stream(
            "POST", f"/v1/conversations/{conversation_id}/messages", json=body, headers=headers
        ) as response:
            if response.headers.get("content-type", "").startswith("text/event-stream"):
                events = parse_sse([line async for line in response.aiter_lines()])
                outcome = TurnOutcome(time.perf_counter() - started, response.status_code)
                outcome.kinds = [k for k, _ in events]
                for kind, data in events:
                    if kind == "error":
                        outcome.error_code = str(data.get("code", ""))
                        outcome.retryable = data.get("retryable") is True
                    elif kind == "done":
                        outcome.message_id = str(data.get("messageId", ""))
                        outcome.degraded = tuple(data.get("degradedComponents", ()))
                        outcome.writer = str(data.get("writer", ""))
                return outcome
            raw = await response.aread()
            outcome = TurnOutcome(time.perf_counter() - started, response.status_code)
            retry_after = response.headers.get("retry-after")
            outcome.retry_after_s = float(retry_after) if retry_after else None
            try:
                error = json.loads(raw)["error"]
                outcome.error_code = str(error["code"])
                outcome.retryable = error.get("retryable") is True
            except (ValueError, KeyError, TypeError, AttributeError):
                outcome.error_code = ""
            return outcome
    except httpx.HTTPError as exc:
        return TurnOutcome(time.perf_counter() - started, 0, transport_error=type(exc).__name__)


async def create_conversation(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    response = await client.post("/v1/conversations", json={}, headers=headers)
    response.raise_for_status()
    return str(response.json()["conversation"]["conversationId"])
