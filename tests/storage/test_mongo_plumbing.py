"""The MongoDB plumbing: client options, indexes, the claim primitive, and failing fast when MongoDB is down."""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
import time
from datetime import timedelta

import pytest
from assist.v1 import common_pb2

from mesh.storage.mongo import (
    INDEXES,
    STORE_FAILURES,
    Database,
    StoreUnavailable,
    connect,
    ensure_indexes,
    latest_claim,
    release_claims,
    try_claim,
    utcnow,
)
from mesh.storage.turns import ConversationStore
from tests.local_stack import Stack, mongo_uri_for
from tests.storage.outage import RESTARTED_ELSEWHERE, is_listening

pytestmark = pytest.mark.stack


async def _index_names(db: Database) -> dict[str, set[str]]:
    names: dict[str, set[str]] = {}
    for collection in INDEXES:
        names[collection] = {index["name"] async for index in await db[collection].list_indexes()}
    return names


async def test_ensure_indexes_creates_every_index_and_is_idempotent(db: Database) -> None:
    before = await _index_names(db)
    await ensure_indexes(db)
    await ensure_indexes(db)
    after = await _index_names(db)
    assert after == before
    for collection, models in INDEXES.items():
        for model in models:
            assert model.document["name"] in after[collection], (collection, model.document["name"])
    unique = [
        i async for i in await db.turns.list_indexes() if i["name"] == "conversation_client_message_unique"
    ]
    assert unique[0]["unique"] is True
    assert dict(unique[0]["key"]) == {"conversation_id": 1, "client_message_id": 1}


async def test_connect_sets_timeouts_majority_writes_and_aware_datetimes(stack: Stack) -> None:
    client = connect(stack.mongo_uri, 1234)
    try:
        options = client.options
        assert options.server_selection_timeout == pytest.approx(1.234)
        assert options.pool_options.connect_timeout == pytest.approx(1.234)
        assert options.pool_options.socket_timeout == pytest.approx(1.234)
        assert options.write_concern.document == {"w": "majority"}
        assert options.retry_writes is True
        assert options.codec_options.tz_aware is True
    finally:
        await client.close()


async def test_one_claim_wins_among_20_concurrent_claimers(db: Database) -> None:
    until = utcnow() + timedelta(seconds=30)
    results = await asyncio.gather(*(try_claim(db, "r1", 1, f"owner{i}", until) for i in range(20)))
    assert sum(results) == 1
    latest = await latest_claim(db, "r1")
    assert latest is not None and latest["epoch"] == 1
    assert await try_claim(db, "r1", 2, "next", until)
    await release_claims(db, "r1", up_to_epoch=1)
    latest = await latest_claim(db, "r1")
    assert latest is not None and latest["owner"] == "next"
    await release_claims(db, "r1")
    assert await latest_claim(db, "r1") is None


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
async def test_store_calls_raise_store_unavailable_when_mongo_is_down_and_recover(
    stack: Stack, database_name: str
) -> None:
    client = connect(mongo_uri_for(stack, database_name), 1000)
    store = ConversationStore(client[database_name])
    try:
        created = await store.create_conversation("u1", common_pb2.PageContext())
        for _ in range(3):
            stack.stop("mongo")
            try:
                started = time.monotonic()
                try:
                    await store.get_conversation("u1", created.conversation_id)
                except StoreUnavailable:
                    assert time.monotonic() - started < 3.0  # the 1 s timeout, not pymongo's 30 s
                    with pytest.raises(StoreUnavailable):
                        await store.create_conversation("u1", common_pb2.PageContext())
                    break
                assert is_listening(stack.mongo_uri), "a call succeeded while MongoDB was stopped"
            finally:
                stack.start("mongo")
        else:
            pytest.skip(RESTARTED_ELSEWHERE.format("MongoDB"))
        assert await store.get_conversation("u1", created.conversation_id) == created
    finally:
        await client.drop_database(database_name)
        await client.close()
        gc.collect()  # sockets pymongo dropped while the server was down are collected here, not later


# pymongo may drop a socket to a server that went away without closing it; such sockets are collected at the
# end of the test that caused them, not in a later one (filterwarnings makes every warning an error).
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
async def test_an_unreachable_store_is_logged_at_warning_with_the_operation_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = connect(f"mongodb://127.0.0.1:{port}/nobody", 300)
    counter = STORE_FAILURES.labels("ConversationStore.get_conversation")
    before = counter._value.get()
    try:
        with caplog.at_level(logging.WARNING, logger="assist.store"), pytest.raises(StoreUnavailable):
            await ConversationStore(client["nobody"]).get_conversation("u1", "c1")
    finally:
        await client.close()
        gc.collect()
    assert counter._value.get() == before + 1
    assert any(
        r.levelno == logging.WARNING and "ConversationStore.get_conversation" in r.getMessage()
        for r in caplog.records
    )
