"""A database with N stored turns, written through the product's own write path, kept between runs.

The turns go in as the coordinator writes them: `ConversationStore.create_conversation`, then per message
`TurnStore.begin_turn` and `complete_turn` with the interaction event in its outbox (as
coordinator/pipeline.py does), with bounded concurrency, spread over thousands of users and conversations
of varied length. 100,000 turns take minutes, so the database is named after its size (`bench_seed_100k`)
and a marker document in `bench_seed` says when it is complete: a later run reuses it, an interrupted
seeding resumes where it stopped.
"""

from __future__ import annotations

import asyncio
import functools
import random
import time
import uuid
from collections.abc import Awaitable, Callable

from assist.v1 import common_pb2, events_pb2, nlg_pb2
from google.protobuf.timestamp_pb2 import Timestamp
from pymongo.asynchronous.collection import AsyncCollection

from demo.data import load_demo_data
from demo.seed import demo_tasks, seed_demo_tasks
from mesh.events.kafka import INTERACTIONS_TOPIC
from mesh.storage.mongo import (
    Database,
    Document,
    StoreUnavailable,
    connect,
    default_database,
    ensure_indexes,
)
from mesh.storage.tasks import TaskStore
from mesh.storage.turns import ConversationStore, TurnStore

MARKER = "bench_seed"
QUESTIONS = ("What is late?", "What is due this week?", "Who owns T-101?", "Summarize this task", "hi")
ANSWER = (
    "You have 2 overdue tasks: **Prepare the quarterly report** (due 3 days ago) and **Review the budget**."
)


def database_name(turns: int) -> str:
    """`bench_seed_100k`, `bench_seed_10k`, `bench_seed_2500`."""
    if turns % 1000 == 0:
        return f"bench_seed_{turns // 1000}k"
    return f"bench_seed_{turns}"


def seeded_uri(base_uri: str, turns: int) -> str:
    return f"{base_uri.rsplit('/', 1)[0]}/{database_name(turns)}"


def conversation_lengths(turns: int, rng: random.Random) -> list[int]:
    """Conversations of 1 to 19 turns (10 on average) adding up to `turns`."""
    lengths: list[int] = []
    left = turns
    while left > 0:
        n = min(left, rng.randint(1, 19))
        lengths.append(n)
        left -= n
    return lengths


def _interaction(conversation_id: str, turn_id: str, user_id: str) -> events_pb2.EventEnvelope:
    occurred = Timestamp()
    occurred.GetCurrentTime()
    return events_pb2.EventEnvelope(
        event_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"assist:interaction:{turn_id}")),
        occur_time=occurred,
        interaction=events_pb2.InteractionEvent(
            conversation_id=conversation_id,
            turn_id=turn_id,
            user_id=user_id,
            intent=common_pb2.INTENT_TASKS_OVERDUE,
            language=common_pb2.LANGUAGE_EN,
            writer=nlg_pb2.WRITER_LOCAL,
            latency_ms=100,
        ),
    )


async def _seed_conversation(
    db: Database,
    conversations: ConversationStore,
    turns: TurnStore,
    user_id: str,
    length: int,
    rng: random.Random,
) -> None:
    conversation = await conversations.create_conversation(user_id, common_pb2.PageContext())
    cid = conversation.conversation_id
    for _ in range(length):
        begun = await turns.begin_turn(
            conversation_id=cid,
            user_id=user_id,
            client_message_id=uuid.uuid4().hex,
            text=rng.choice(QUESTIONS),
            page_context=common_pb2.PageContext(),
            lease_seconds=45,
        )
        turn = begun.turn
        await turns.complete_turn(
            turn.turn_id,
            attempt=turn.attempt,
            answer=ANSWER,
            intent=common_pb2.INTENT_TASKS_OVERDUE,
            language=common_pb2.LANGUAGE_EN,
            degraded=[],
            writer=nlg_pb2.WRITER_LOCAL,
            generation={"model": "", "prompt_version": ""},
            events=[(INTERACTIONS_TOPIC, cid, _interaction(cid, turn.turn_id, user_id))],
            conversation_id=cid,
            user_text=turn.text,
        )
        await mark_outbox_published(db.turns, turn.turn_id)


async def _retrying(batch: Callable[[], Awaitable[object]], attempts: int = 6, wait_s: float = 15.0) -> None:
    """Run a batch again when the server went away (a restart of the shared stack); its conversations are
    then written twice in part, which only adds turns."""
    for attempt in range(1, attempts + 1):
        try:
            await batch()
            return
        except StoreUnavailable as exc:
            if attempt == attempts:
                raise
            print(f"    store unavailable ({exc}); retrying the batch in {wait_s:.0f} s", flush=True)
            await asyncio.sleep(wait_s)


async def mark_outbox_published(turns: AsyncCollection[Document], turn_id: str) -> None:
    """Mark the seeded events sent, as the relay does once Kafka acknowledged them.

    A real database with 100,000 turns has published their events long ago. Publishing them for real would
    put 100,000 events on the shared topic that every later mesh's analytics consumer would then ingest, and
    the mesh measured first would spend its window relaying. (Written against the outbox layout of
    mesh/storage/mongo.outbox_entry: one entry per turn; change here if that layout changes.)
    One turn at a time, right after it is written: an `update_many` over 100,000 turns is one command that
    FerretDB applies document by document, far past any socket timeout.
    """
    await turns.update_one({"_id": turn_id}, {"$set": {"outbox_pending": False, "outbox.0.state": "sent"}})


async def ensure_seeded(base_uri: str, turns: int, *, concurrency: int = 16, timeout_ms: int = 10000) -> str:
    """The URI of a database holding at least `turns` turns, seeding what is missing; prints progress."""
    uri = seeded_uri(base_uri, turns)
    await seed_demo_tasks(uri)
    client = connect(uri, timeout_ms)
    try:
        db = default_database(client)
        await ensure_indexes(db)
        marker = await db[MARKER].find_one({"_id": "marker"})
        if marker is not None and marker.get("complete"):
            print(f"  {database_name(turns)}: seeded already ({marker['turns']} turns), reused")
            return uri
        done_conversations = int((marker or {}).get("conversations_done", 0))
        rng = random.Random(turns)
        lengths = conversation_lengths(turns, rng)
        users = max(100, turns // 50)
        conversations, store = ConversationStore(db), TurnStore(db, owner="bench-seed")
        started = time.perf_counter()
        gate = asyncio.Semaphore(concurrency)
        print(
            f"  {database_name(turns)}: seeding {turns} turns in {len(lengths)} conversations of {users} users "
            f"({done_conversations} conversations there already)",
            flush=True,
        )

        async def one(i: int) -> None:
            async with gate:
                await _seed_conversation(
                    db, conversations, store, f"seed-user-{i % users:05d}", lengths[i], random.Random(i)
                )

        async def seed_range(lo: int, hi: int) -> None:
            await asyncio.gather(*(one(i) for i in range(lo, hi)))

        batch = 500  # conversations between progress markers: an interrupted seeding resumes from the last
        for first in range(done_conversations, len(lengths), batch):
            last = min(first + batch, len(lengths))
            await _retrying(functools.partial(seed_range, first, last))
            await db[MARKER].replace_one(
                {"_id": "marker"},
                {"_id": "marker", "turns": turns, "conversations_done": last, "complete": False},
                upsert=True,
            )
            rate = sum(lengths[done_conversations:last]) / (time.perf_counter() - started)
            print(f"    {sum(lengths[:last])} turns ({rate:.0f} turns/s)", flush=True)
        await db[MARKER].replace_one(
            {"_id": "marker"},
            {"_id": "marker", "turns": turns, "conversations_done": len(lengths), "complete": True},
            upsert=True,
        )
        print(f"  {database_name(turns)}: seeded in {time.perf_counter() - started:.0f} s", flush=True)
        return uri
    finally:
        await client.close()


async def give_users_tasks(uri: str, users: list[str], *, timeout_ms: int = 10000) -> None:
    """Give each benchmark user a copy of the demo user carol's tasks, so every chat asks about real tasks."""
    template = [t for t in demo_tasks(load_demo_data()) if any(p.user_id == "carol" for p in t.assignees)]
    client = connect(uri, timeout_ms)
    try:
        store = TaskStore(default_database(client))
        gate = asyncio.Semaphore(8)

        async def give(user: str, task: common_pb2.Task) -> None:
            copy = common_pb2.Task()
            copy.CopyFrom(task)
            copy.task_id = f"{user}-{task.task_id}"
            del copy.blocked_by_task_ids[:]
            async with gate:
                await store.upsert(copy, assignee_ids=[user])

        await asyncio.gather(*(give(u, t) for u in users for t in template))
    finally:
        await client.close()
