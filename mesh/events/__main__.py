"""`python -m mesh.events`: the outbox relay process (MONGO_URI, KAFKA_BOOTSTRAP; stops on SIGTERM)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket

from mesh.config import CommonSettings, KafkaSettings, MongoSettings
from mesh.events.kafka import ensure_topics, make_producer
from mesh.events.outbox import OutboxRelay
from mesh.logs import configure_logging
from mesh.storage.mongo import StoreUnavailable, connect, default_database, ensure_indexes

log = logging.getLogger("assist.events")


class RelaySettings(CommonSettings, MongoSettings, KafkaSettings):
    """The relay's settings; several relays may run at once, each needs a distinct RELAY_ID (default host:pid)."""

    service_name: str = "relay"
    relay_id: str = ""


async def run(settings: RelaySettings) -> None:
    """Relay until SIGTERM or SIGINT; MongoDB or Kafka being down at start only delays delivery."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    relay_id = settings.relay_id or f"{socket.gethostname()}:{os.getpid()}"
    client = connect(settings.mongo_uri, settings.mongo_timeout_ms)
    try:
        db = default_database(client)
        try:
            await ensure_indexes(db)
        except StoreUnavailable as exc:
            log.warning("could not ensure indexes at start: %s", exc)
        try:
            await ensure_topics(settings.kafka_bootstrap)
        except Exception as exc:  # the broker may be down; the relay retries publishing anyway
            log.warning("could not ensure topics at start: %s", exc)
        relay = OutboxRelay(
            db,
            lambda: make_producer(settings.kafka_bootstrap, client_id=f"assist-relay-{relay_id}"),
            relay_id,
        )
        log.info("relay %s started", relay_id)
        await relay.run_forever(stop)
        log.info("relay %s stopped", relay_id)
    finally:
        await client.close()


def main() -> None:
    settings = RelaySettings()
    configure_logging(settings.service_name, settings.log_level)
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
