"""Concurrent chats through the real edge while one fault is injected and healed: the chaos suite's load.

Each chat is one user with one conversation sending its next message when the previous one ended, as
bench/driver.py's chats do, with two differences the faults need: every message keeps all its attempts
(a message that fails with a retryable error is resent with the same client_message_id, as the widget
does, and counts as answered if a resend is answered), and the chats run until told to stop rather than
for a fixed time, because a row lasts until the mesh has fully recovered.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from bench.driver import Target, client_for
from bench.sse import TurnOutcome, create_conversation, send_turn

QUESTIONS = ("What is late?", "What is due this week?", "Which of my tasks are overdue?", "What is blocked?")
# The writers whose answer is the product at its best: Gemini itself, or its answer from the cache.
FULL_WRITERS = frozenset({"WRITER_GEMINI", "WRITER_CACHE"})
# After the chats are told to stop, a message still being resent gets this long to be answered.
RESEND_GRACE_S = 20.0


def is_retryable(outcome: TurnOutcome) -> bool:
    """A failure the server itself called worth resending: its error's `retryable` (a spent daily budget
    carries Retry-After too, to midnight, but says retryable false: resending today is no use)."""
    return not outcome.done and outcome.retryable


async def open_conversation(
    client: httpx.AsyncClient, headers: dict[str, str], budget_s: float = 60.0
) -> str:
    """Create a conversation, trying again on a server error or a dropped connection as the widget would
    (a busy machine may time the first one out; the row has not begun yet)."""
    deadline = time.monotonic() + budget_s
    while True:
        try:
            return await create_conversation(client, headers)
        except (httpx.HTTPStatusError, httpx.TransportError) as exc:
            server_side = not isinstance(exc, httpx.HTTPStatusError) or exc.response.status_code >= 500
            if not server_side or time.monotonic() > deadline:
                raise
        await asyncio.sleep(1.0)


@dataclass
class Message:
    """One message a chat sent, with every attempt at it; times are seconds since the row began."""

    client_message_id: str
    sent_at: float
    attempts: list[TurnOutcome] = field(default_factory=list)
    ended_at: float = 0.0
    # For a row that rates answers: the HTTP status of each attempt at rating it.
    ratings: list[int] = field(default_factory=list)

    @property
    def final(self) -> TurnOutcome:
        return self.attempts[-1]

    @property
    def answered(self) -> bool:
        return bool(self.attempts) and self.final.done

    @property
    def degraded(self) -> bool:
        """Answered, but not as well as the healthy mesh answers: some part missing, or a lesser writer."""
        return self.answered and (bool(self.final.degraded) or self.final.writer not in FULL_WRITERS)

    @property
    def resends(self) -> int:
        return len(self.attempts) - 1

    @property
    def failed_attempts(self) -> int:
        return sum(1 for a in self.attempts if not a.done)


@dataclass
class ChatLoad:
    """The chats of one row and the messages they sent, with the clock they share."""

    target: Target
    chats: int
    user_ids: list[str]
    rate_answers: bool = False
    messages: list[Message] = field(default_factory=list)
    conversation_ids: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    # In every question, so no two rows (nor two runs) ask the same one: see _chat.
    tag: int = field(default_factory=lambda: random.randrange(10_000, 100_000))
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _grace_until: float = float("inf")

    def now(self) -> float:
        return time.monotonic() - self.started

    def stop(self) -> None:
        """No new messages; one being resent has RESEND_GRACE_S more to be answered."""
        self._grace_until = self.now() + RESEND_GRACE_S
        self._stop.set()

    def first_full_answer_after(self, t: float) -> Message | None:
        """The first message sent at or after `t` that was answered fully (not degraded)."""
        full = [m for m in self.messages if m.sent_at >= t and m.answered and not m.degraded]
        return min(full, key=lambda m: m.ended_at, default=None)

    async def run(self) -> None:
        """Open the conversations, then chat until `stop()`; returns when every chat has finished."""
        async with client_for(self.target, self.chats + 4) as client:
            headers = [self.target.auth(self.user_ids[i % len(self.user_ids)]) for i in range(self.chats)]
            self.conversation_ids = list(
                await asyncio.gather(*(open_conversation(client, h) for h in headers))
            )
            await asyncio.gather(
                *(
                    self._chat(client, h, c, i)
                    for i, (h, c) in enumerate(zip(headers, self.conversation_ids, strict=True))
                )
            )

    async def _chat(
        self, client: httpx.AsyncClient, headers: dict[str, str], conversation_id: str, index: int
    ) -> None:
        n = 0
        while not self._stop.is_set():
            message = Message(uuid.uuid4().hex, self.now())
            self.messages.append(message)
            # A number makes each question new: the answer cache would otherwise hide the model's faults.
            text = f"{QUESTIONS[(index + n) % len(QUESTIONS)]} #{self.tag}{index:02d}{n}"
            await self._send(client, headers, conversation_id, text, message)
            if self.rate_answers and message.answered:
                await self._rate(client, headers, message)
            n += 1

    async def _send(
        self,
        client: httpx.AsyncClient,
        headers: dict[str, str],
        conversation_id: str,
        text: str,
        message: Message,
    ) -> None:
        while True:
            outcome = await send_turn(
                client, conversation_id, text, headers, client_message_id=message.client_message_id
            )
            message.attempts.append(outcome)
            message.ended_at = self.now()
            if not is_retryable(outcome) or self.now() > self._grace_until:
                return
            await asyncio.sleep(min(outcome.retry_after_s or 0.5, 2.0))

    async def _rate(self, client: httpx.AsyncClient, headers: dict[str, str], message: Message) -> None:
        body = {"rating": "FEEDBACK_RATING_UP", "comment": "chaos suite"}
        url = f"/v1/messages/{message.final.message_id}/feedback"
        while True:
            try:
                response = await client.post(url, json=body, headers=headers)
                status, retry = response.status_code, response.headers.get("retry-after")
            except httpx.HTTPError:
                status, retry = 0, None
            message.ratings.append(status)
            if status != 503 or retry is None or self.now() > self._grace_until:
                return
            await asyncio.sleep(min(float(retry), 2.0))


async def run_row(
    load: ChatLoad,
    *,
    warm_s: float,
    hold_s: float,
    after_s: float,
    recovery_cap_s: float,
    inject: Callable[[], None],
    heal: Callable[[], None],
) -> tuple[float, float]:
    """Chat for `warm_s`, inject, hold, heal, then chat until `after_s` passed and the mesh answered fully
    (giving up `recovery_cap_s` after the heal ended); then stop and let the chats finish. Returns the
    times the heal began and ended.
    """
    chats = asyncio.create_task(load.run())
    try:
        await asyncio.sleep(warm_s)
        await asyncio.to_thread(inject)
        await asyncio.sleep(hold_s)
        heal_began = load.now()
        try:
            await asyncio.to_thread(heal)
        finally:
            healed = load.now()
        while True:
            # The cap counts from the heal's end: a restart may take a minute on a busy machine.
            recovered = load.first_full_answer_after(heal_began) is not None
            waited_enough = load.now() - healed >= recovery_cap_s
            if load.now() - heal_began >= after_s and (recovered or waited_enough):
                break
            await asyncio.sleep(0.2)
    finally:
        load.stop()
        await chats
    return heal_began, healed
