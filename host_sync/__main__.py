"""`python -m host_sync`: the host task sync worker (HOST_DB_DSN, HOST_SYNC_MAPPING_FILE, MONGO_URI,
REDIS_URL; stops on SIGTERM). Run one replica: a second would be correct (every write is idempotent by
rank) but would only double the reads.
"""

from __future__ import annotations

import logging
from pathlib import Path

from host_sync.apply import ChangeApplier
from host_sync.mapping import MappingError, load_mapping
from host_sync.source import HostSource
from host_sync.worker import HostSync
from mesh import event_loop
from mesh.config import CommonSettings, ConfigurationError, MongoSettings, RedisSettings, load_settings
from mesh.events.kafka import TASKS_TOPIC
from mesh.logs import configure_logging
from mesh.storage.from_settings import open_mongo, open_redis
from mesh.storage.redis_store import ANSWER_CACHE_NAMESPACE, ResponseCache
from mesh.telemetry import configure_telemetry
from mesh.worker import stop_on_signals

log = logging.getLogger("assist.host_sync")


class HostSyncSettings(CommonSettings, MongoSettings, RedisSettings):
    """The worker's settings. The lag window must exceed the host's longest write transaction."""

    service_name: str = "host-sync"
    host_db_dsn: str
    host_sync_mapping_file: Path
    host_sync_batch_size: int = 500
    host_sync_lag_window_s: float = 30.0
    host_sync_poll_s: float = 0.5
    # The longest pause between sweeps while the host is quiet (HostSync.pause_after).
    host_sync_idle_max_s: float = 2.0
    # The Kafka topic of the TaskChangedEvents (the relay publishes them).
    host_sync_topic: str = TASKS_TOPIC


async def run(settings: HostSyncSettings) -> None:
    stop = stop_on_signals()
    try:
        mapping = load_mapping(settings.host_sync_mapping_file)
    except MappingError as exc:
        raise ConfigurationError(f"{settings.service_name}: HOST_SYNC_MAPPING_FILE: {exc}") from None
    source = HostSource(settings.host_db_dsn, mapping)
    async with open_mongo(settings) as db, open_redis(settings) as redis:
        sync = HostSync(
            db,
            source,
            mapping,
            ChangeApplier(db, ResponseCache(redis, ANSWER_CACHE_NAMESPACE), topic=settings.host_sync_topic),
            batch_size=settings.host_sync_batch_size,
            lag_window_s=settings.host_sync_lag_window_s,
            poll_s=settings.host_sync_poll_s,
            idle_max_s=settings.host_sync_idle_max_s,
        )
        log.info("task sync started (mapping %s)", settings.host_sync_mapping_file)
        try:
            await sync.run_forever(stop)
        finally:
            await source.close()
        log.info("task sync stopped")


def main() -> None:
    settings = load_settings(HostSyncSettings)
    configure_logging(settings.service_name, settings.log_level)
    configure_telemetry(settings, grpc_server=False)
    event_loop.run(run(settings))


if __name__ == "__main__":
    main()
