"""The stores: MongoDB (conversations, turns with their outbox, tasks, feedback) and Redis (sessions, cache,
rate limits). See docs/data.md for the collections, indexes and the guarantees each store gives."""

from __future__ import annotations

from mesh.storage.mongo import NotFoundError, StoreUnavailable, connect, default_database, ensure_indexes

__all__ = ["NotFoundError", "StoreUnavailable", "connect", "default_database", "ensure_indexes"]
