"""MongoDB plumbing shared by every store: the client, the indexes, error mapping and claims.

The same code runs against a real MongoDB in production and FerretDB 1.24 locally. FerretDB applies an
update as "read the document, change it in memory, write it back" with no isolation between the two steps
(FerretDB issue #2168), so a conditional `update_one` or `find_one_and_update` is NOT a compare-and-set
there: under concurrency several callers see their condition hold and the last write wins. Inserting into a
unique index, on the other hand, is atomic on both servers. Every decision that must have exactly one
winner (who runs a turn, which relay publishes a document, whether an event was already counted) is
therefore made by inserting a document with a unique key: see `try_claim`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar

from assist.v1 import events_pb2
from prometheus_client import Counter
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConnectionFailure, DuplicateKeyError

from mesh.trace_context import current_carrier

log = logging.getLogger("assist.store")

STORE_FAILURES = Counter(
    "assist_store_failures_total",
    "MongoDB calls that failed because the server could not be reached in time, by store operation.",
    ["operation"],
)

Document = dict[str, Any]
Database = AsyncDatabase[Document]
Client = AsyncMongoClient[Document]

P = ParamSpec("P")
R = TypeVar("R")

DEFAULT_DATABASE = "assist"


class StoreUnavailable(Exception):
    """MongoDB could not be reached in time; callers map it to gRPC UNAVAILABLE (the request may be retried)."""


class NotFoundError(Exception):
    """The thing asked for does not exist or belongs to another user; callers map it to gRPC NOT_FOUND."""


def connect(uri: str, timeout_ms: int) -> Client:
    """Create a client that fails within `timeout_ms` when the server is down, instead of pymongo's 30 s.

    - `w="majority"` is set on purpose: in production an acknowledged turn must survive a primary failover.
      FerretDB accepts and ignores it (it has one node).
    - `retryWrites=True` (pymongo's default, made explicit): on a replica set a write interrupted by a
      failover is retried once by the server-side retryable-write protocol, without duplicating it.
      FerretDB reports itself as a standalone server, for which the driver never attaches transaction
      numbers, so the option is harmless there (tested: inserts and updates work with it on).
    - `tz_aware=True`: datetimes come back as aware UTC values, so comparisons with `now()` are safe.
    - `heartbeatFrequencyMS=30000` (pymongo's default is 10 s): the background `hello` of an idle process
      (issue 8: an idle stack under 2% of a core). Failures are not found by it: an operation that fails on
      a connection marks the server unknown and asks for an immediate check, and server selection re-checks
      every 0.5 s until it answers, so recovery after an outage is as fast as before (chaos suite's
      MongoDB row). On a replica set the streaming protocol pushes a new primary without waiting for it.
      pymongo's background tasks still wake every 0.5 s (its MIN_HEARTBEAT_INTERVAL, not settable).
    """
    return AsyncMongoClient(
        uri,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        socketTimeoutMS=timeout_ms,
        w="majority",
        retryWrites=True,
        tz_aware=True,
        appname="assist-mesh",
        heartbeatFrequencyMS=30_000,
    )


def default_database(client: Client) -> Database:
    """The database named in the URI's path (`mongodb://host/assist`), or `assist` when it names none."""
    return client.get_default_database(DEFAULT_DATABASE)


def unavailable_as_store_error(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Decorate an async store method so any "cannot reach MongoDB" error surfaces as `StoreUnavailable`.

    pymongo's ServerSelectionTimeoutError, AutoReconnect, NetworkTimeout and WaitQueueTimeoutError all
    derive from ConnectionFailure, so catching that one class covers them.

    Every such failure is also logged at warning with the operation's name and counted in
    `assist_store_failures_total{operation}`: a slow or unreachable store is then visible as itself, not
    only as the agent failures or degraded answers it causes downstream.
    """
    operation = fn.__qualname__

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except ConnectionFailure as exc:
            STORE_FAILURES.labels(operation).inc()
            log.warning("MongoDB %s failed: %s: %s", operation, type(exc).__name__, str(exc)[:300])
            raise StoreUnavailable(f"MongoDB unavailable: {type(exc).__name__}") from exc

    return wrapper


def utcnow() -> datetime:
    """Now, in UTC, truncated to milliseconds (BSON dates hold milliseconds; this keeps round trips equal)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def as_utc(value: datetime) -> datetime:
    """An aware UTC datetime from a stored one (clients created without `tz_aware=True` return naive UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Every index the stores rely on. `claims` and `analytics_events` exist because FerretDB has no atomic
# conditional update (see the module docstring); `tasks.due_sort` puts tasks without a due date last.
INDEXES: dict[str, list[IndexModel]] = {
    "conversations": [
        IndexModel([("user_id", ASCENDING), ("create_time", DESCENDING)], name="user_recent"),
        # Support's time-range search and the retention job (`python -m support retention`).
        IndexModel([("create_time", ASCENDING)], name="create_time"),
    ],
    "turns": [
        IndexModel(
            [("conversation_id", ASCENDING), ("client_message_id", ASCENDING)],
            unique=True,
            name="conversation_client_message_unique",
        ),
        IndexModel([("conversation_id", ASCENDING), ("created_at", ASCENDING)], name="conversation_history"),
        IndexModel([("outbox_pending", ASCENDING), ("outbox_since", ASCENDING)], name="outbox_pending"),
    ],
    "feedback": [
        IndexModel([("outbox_pending", ASCENDING), ("outbox_since", ASCENDING)], name="outbox_pending"),
    ],
    "satisfaction": [
        IndexModel([("outbox_pending", ASCENDING), ("outbox_since", ASCENDING)], name="outbox_pending"),
    ],
    "study": [
        IndexModel([("outbox_pending", ASCENDING), ("outbox_since", ASCENDING)], name="outbox_pending"),
    ],
    "tasks": [IndexModel([("assignee_ids", ASCENDING), ("due_sort", ASCENDING)], name="assignee_due")],
    # One document per change the host task sync applied, carrying its TaskChangedEvent (host_sync/apply.py).
    "task_changes": [
        IndexModel([("outbox_pending", ASCENDING), ("outbox_since", ASCENDING)], name="outbox_pending"),
    ],
    "claims": [IndexModel([("resource", ASCENDING), ("epoch", DESCENDING)], name="resource_epoch")],
    "analytics_events": [IndexModel([("day", ASCENDING), ("kind", ASCENDING)], name="day_kind")],
}


@unavailable_as_store_error
async def ensure_indexes(db: Database) -> None:
    """Create every index the stores need. Idempotent: creating an existing index with the same spec is a no-op.

    Runs at process start (cheap when the indexes exist). No TTL and no partial indexes: FerretDB 1.24
    implements neither. One index per command: FerretDB 1.24 crashes the connection on a createIndexes
    command listing several indexes that all exist already.
    """
    for collection, models in INDEXES.items():
        for model in models:
            await db[collection].create_indexes([model])


async def find_by_ids(
    collection: AsyncCollection[Document],
    ids: Sequence[str],
    *,
    also: Document | None = None,
    projection: Document | None = None,
) -> list[Document]:
    """The documents with these `_id`s (and matching `also`), in the order of `ids`, missing ones left out.

    One `_id` lookup per id, concurrently, rather than `{"_id": {"$in": ids}}`: FerretDB 1.24 pushes only
    plain equality down to its backend, so `$in` reads the whole collection there, while an `_id` equality
    is served by an index. Meant for the short lists the product asks for (a page of messages, a task's
    blockers); MongoDB serves either form from the `_id` index.
    """
    unique = list(dict.fromkeys(ids))
    found = await asyncio.gather(
        *(collection.find_one({"_id": i, **(also or {})}, projection=projection) for i in unique)
    )
    return [doc for doc in found if doc is not None]


def outbox_entry(topic: str, key: str, envelope: events_pb2.EventEnvelope) -> Document:
    """One outbox entry, stored inside the document whose change it announces (see docs/data.md).

    The current trace context is stored with it, so the relay can put the record on Kafka inside the trace
    of the request that wrote it (mesh/trace_context.py).
    """
    entry: Document = {
        "event_id": envelope.event_id,
        "topic": topic,
        "key": key,
        "payload": envelope.SerializeToString(),
        "state": "pending",
    }
    if carrier := current_carrier():
        entry["trace_context"] = carrier
    return entry


@unavailable_as_store_error
async def latest_claim(db: Database, resource: str) -> Document | None:
    """The newest claim on `resource` ({epoch, owner, until}), or None when nobody ever claimed it."""
    return await db.claims.find_one({"resource": resource}, sort=[("epoch", DESCENDING)])


@unavailable_as_store_error
async def try_claim(db: Database, resource: str, epoch: int, owner: str, until: datetime) -> bool:
    """Claim `resource` for epoch `epoch` until `until`; exactly one caller per (resource, epoch) wins.

    The claim is an insert with `_id = resource#epoch`, atomic on MongoDB and FerretDB alike. Callers read
    the current epoch (from `latest_claim` or from the claimed document), decide the old claim has
    expired, and race for epoch + 1: losers get False and leave the resource alone.
    """
    try:
        await db.claims.insert_one(
            {
                "_id": f"{resource}#{epoch}",
                "resource": resource,
                "epoch": epoch,
                "owner": owner,
                "until": until,
            }
        )
    except DuplicateKeyError:
        return False
    return True


@unavailable_as_store_error
async def renew_claim(db: Database, resource: str, epoch: int, until: datetime) -> bool:
    """Extend one's own claim to `until`; False when the claim document is gone (a taker removed it).

    Not a compare-and-set (FerretDB has none): callers renew only while their claim is still valid by their
    own clock, so no other caller can have decided it expired; the `_id` filter makes it an index probe.
    """
    result = await db.claims.update_one({"_id": f"{resource}#{epoch}"}, {"$set": {"until": until}})
    return result.matched_count == 1


@unavailable_as_store_error
async def release_claim(db: Database, resource: str, epoch: int) -> None:
    """Give back one's own claim once the work is done (a delete by `_id`: cheap, and never someone else's)."""
    await db.claims.delete_one({"_id": f"{resource}#{epoch}"})


@unavailable_as_store_error
async def release_claims(db: Database, resource: str, *, up_to_epoch: int | None = None) -> None:
    """Forget the claims on `resource` up to `up_to_epoch` (all when None), once the work is done.

    Passing the caller's own epoch never removes a newer claim another process took after the caller's
    expired. Releasing also keeps the collection small (FerretDB has no TTL index to do it).
    """
    query: Document = {"resource": resource}
    if up_to_epoch is not None:
        query["epoch"] = {"$lte": up_to_epoch}
    await db.claims.delete_many(query)
