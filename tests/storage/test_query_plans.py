"""Every query the product makes is served by an index on the local MongoDB-wire server: no collection scan.

FerretDB 1.24 on PostgreSQL serves a query from an index only when its filter has a plain equality on an
indexed field (stack/postgres/ferretdb_gin.sql says why). Rather than keep a second list of queries that could
drift from the code, the test runs the product's own store calls, relay and analytics against a database
holding a few thousand unrelated documents, records every command they send (pymongo's command monitoring),
and asks the server to `explain` each filter. A plan with a sequential scan of a collection's table fails the
test, naming the query. docs/data.md lists the same queries with the index that serves each.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from assist.v1 import common_pb2, events_pb2, nlg_pb2
from pymongo import AsyncMongoClient, monitoring

from analytics.consumer import daily_summary, record_events
from mesh.events.kafka import INTERACTIONS_TOPIC, make_producer
from mesh.storage.feedback import FeedbackStore
from mesh.storage.mongo import (
    Database,
    Document,
    ensure_indexes,
    latest_claim,
    renew_claim,
    try_claim,
    utcnow,
)
from mesh.storage.tasks import TaskStore
from mesh.storage.turns import ConversationStore, TurnStore
from outbox_relay.relay import OutboxRelay
from tests.local_stack import Stack, mongo_uri_for

pytestmark = pytest.mark.stack

FILLER = 3000  # enough rows that a planner prefers a scan wherever no index can serve
_FILTER_OF = {"find": "filter", "count": "query", "delete": "deletes", "update": "updates"}


class Recorder(monitoring.CommandListener):
    """Keeps the filter of every read, update and delete sent, with the collection it targets."""

    def __init__(self) -> None:
        self.queries: list[tuple[str, str, Document]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        name = event.command_name
        command = event.command
        if name == "find":
            self.queries.append((name, command["find"], dict(command.get("filter") or {})))
        elif name in ("update", "delete"):
            for statement in command.get(_FILTER_OF[name], []):
                self.queries.append((name, command[name], dict(statement.get("q") or {})))
        elif name == "count":
            self.queries.append((name, command["count"], dict(command.get("query") or {})))
        elif name == "aggregate":
            stages = command.get("pipeline") or []
            match = stages[0].get("$match", {}) if stages else {}
            self.queries.append((name, command["aggregate"], dict(match)))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def recorded_db(stack: Stack, recorder: Recorder) -> AsyncIterator[Database]:
    name = f"plans_{uuid.uuid4().hex[:10]}"
    client: AsyncMongoClient[Document] = AsyncMongoClient(
        mongo_uri_for(stack, name), event_listeners=[recorder], tz_aware=True, serverSelectionTimeoutMS=5000
    )
    try:
        db = client[name]
        await ensure_indexes(db)
        await _fill(db)
        recorder.queries.clear()
        yield db
        await client.drop_database(name)
    finally:
        await client.close()


async def _fill(db: Database) -> None:
    """Unrelated documents shaped like the real ones, so that each collection has thousands of rows."""
    now = utcnow()
    rows = range(FILLER)
    await db.conversations.insert_many(
        [{"_id": f"fc{i}", "user_id": f"fu{i % 300}", "create_time": now, "recent_turns": []} for i in rows]
    )
    await db.turns.insert_many(
        [
            {
                "_id": f"ft{i}",
                "conversation_id": f"fc{i % 300}",
                "client_message_id": f"fm{i}",
                "user_id": f"fu{i % 300}",
                "state": "done",
                "created_at": now,
                "outbox_pending": False,
                "outbox_since": now,
            }
            for i in rows
        ]
    )
    for collection in ("feedback", "satisfaction"):
        await db[collection].insert_many(
            [{"_id": f"f{collection}{i}", "outbox_pending": False, "outbox_since": now} for i in rows]
        )
    await db.tasks.insert_many(
        [
            {"_id": f"fT{i}", "assignee_ids": [f"fu{i % 300}"], "due_sort": "9999-12-31", "deleted": False}
            for i in rows
        ]
    )
    await db.claims.insert_many(
        [{"_id": f"fr{i}#1", "resource": f"fr{i}", "epoch": 1, "until": now} for i in rows]
    )
    await db.analytics_events.insert_many(
        [{"_id": f"fe{i}", "day": f"2020-01-{i % 28 + 1:02d}", "kind": "interaction"} for i in rows]
    )


async def _use_the_product(db: Database, stack: Stack) -> None:
    """One of each store call, the relay and the analytics consumer's writes and summary."""
    conversations, turns, feedback, tasks = (
        ConversationStore(db),
        TurnStore(db),
        FeedbackStore(db),
        TaskStore(db),
    )
    page = common_pb2.PageContext(task_id="T-1")
    await tasks.upsert(common_pb2.Task(task_id="T-1", title="Write the report"), ["u1"])
    await tasks.upsert(common_pb2.Task(task_id="T-2", title="Review it", blocked_by_task_ids=["T-1"]), ["u1"])
    conversation = await conversations.create_conversation("u1", page)
    cid = conversation.conversation_id
    await conversations.get_conversation("u1", cid)
    await conversations.create_conversation("u1", page)
    first_page = await conversations.list_page("u1", page_size=1)
    await conversations.list_page("u1", page_size=1, page_token=first_page.next_page_token)
    begun = await turns.begin_turn(cid, "u1", "m-1", "what is due?", page, lease_seconds=30)
    await turns.begin_turn(cid, "u1", "m-1", "what is due?", page, lease_seconds=30)  # a resend
    await conversations.history("u1", cid, 6)
    await tasks.list_for_user("u1", due_on_or_before="2030-01-01", exclude_done=True, title_query="report")
    await tasks.get_for_user("u1", "T-2")
    await tasks.get_many(["T-1"])
    envelope = events_pb2.EventEnvelope(
        event_id=uuid.uuid4().hex, interaction=events_pb2.InteractionEvent(conversation_id=cid, user_id="u1")
    )
    await turns.complete_turn(
        begun.turn.turn_id,
        answer="T-1 is due",
        intent=common_pb2.INTENT_TASKS_DUE,
        language=common_pb2.LANGUAGE_EN,
        degraded=[],
        writer=nlg_pb2.WRITER_LOCAL,
        generation={},
        events=[(INTERACTIONS_TOPIC, cid, envelope)],
        attempt=begun.turn.attempt,
    )
    await turns.get_turn(begun.turn.turn_id)
    await turns.list_messages("u1", cid, 50)
    await feedback.record_feedback("u1", begun.turn.turn_id, common_pb2.FEEDBACK_RATING_UP, "")
    await feedback.record_satisfaction("u1", cid, 5, "")
    await turns.release_turn(begun.turn.turn_id)
    await try_claim(db, "turn:x", 1, "me", utcnow())
    await latest_claim(db, "turn:x")
    await renew_claim(db, "turn:x", 1, utcnow())  # as the relay renews its lease per collection
    relay = OutboxRelay(db, lambda: make_producer(stack.kafka_bootstrap), "plans-relay")
    try:
        await relay.run_once()
    finally:
        await relay.close()
    await record_events(db, [envelope])
    await daily_summary(db, utcnow().date().isoformat())


def _scans(plan: Any) -> Iterator[str]:
    """Relations a PostgreSQL plan (EXPLAIN FORMAT JSON, as FerretDB returns it) reads with a sequential scan."""
    if isinstance(plan, dict):
        if plan.get("Node Type") == "Seq Scan":
            yield str(plan.get("Relation Name"))
        for value in plan.values():
            yield from _scans(value)
    elif isinstance(plan, list):
        for value in plan:
            yield from _scans(value)


async def test_every_query_the_product_makes_is_served_by_an_index(
    recorded_db: Database, recorder: Recorder, stack: Stack
) -> None:
    await _use_the_product(recorded_db, stack)
    seen = {
        (kind, collection, repr(sorted(filter_.items()))): (kind, collection, filter_)
        for kind, collection, filter_ in recorder.queries
    }
    assert len(seen) >= 15, f"expected the product's queries to be recorded, got {len(seen)}"
    scanned: list[str] = []
    for kind, collection, filter_ in seen.values():
        explained = await recorded_db.command("explain", {"find": collection, "filter": filter_})
        tables = [t for t in _scans(explained["queryPlanner"]) if not t.startswith("_ferretdb")]
        if tables:
            scanned.append(f"{kind} {collection} {filter_}: scans {tables}")
    assert not scanned, "collection scans:\n" + "\n".join(scanned)
    # The detector itself: a filter on a field no index covers is reported as a scan.
    unindexed = await recorded_db.command("explain", {"find": "turns", "filter": {"text": "what is due?"}})
    assert [t for t in _scans(unindexed["queryPlanner"]) if t.startswith("turns_")]
    if os.environ.get("ASSIST_PRINT_QUERIES"):
        for kind, collection, filter_ in seen.values():
            print(f"{kind:9} {collection:17} {sorted(filter_)}")
