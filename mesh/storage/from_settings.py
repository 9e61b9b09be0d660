"""Opening the stores from settings, for the processes that use them (one place, not one per agent)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from pymongo.errors import ConnectionFailure
from redis.asyncio import Redis

from mesh.config import MongoSettings, RedisSettings
from mesh.storage.mongo import Database, connect, default_database, ensure_indexes
from mesh.storage.redis_store import make_redis

log = logging.getLogger(__name__)


@asynccontextmanager
async def open_mongo(settings: MongoSettings) -> AsyncIterator[Database]:
    """The database named by MONGO_URI, with indexes ensured when the server is reachable now."""
    client = connect(settings.mongo_uri, settings.mongo_timeout_ms)
    db = default_database(client)
    try:
        await ensure_indexes(db)
    except ConnectionFailure as exc:  # MongoDB may come up later; calls answer UNAVAILABLE until it does
        log.warning("could not ensure MongoDB indexes at start-up: %s", exc)
    try:
        yield db
    finally:
        await client.close()


@asynccontextmanager
async def open_redis(settings: RedisSettings) -> AsyncIterator[Redis]:
    redis = make_redis(settings.redis_url, settings.redis_timeout_s)
    try:
        yield redis
    finally:
        await redis.aclose()
