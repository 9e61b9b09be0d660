"""`python -m outbox_relay`: the outbox relay process (MONGO_URI, KAFKA_BOOTSTRAP; stops on SIGTERM)."""

from __future__ import annotations

import logging
import os
import socket

from aiokafka.errors import KafkaError

from mesh import event_loop
from mesh.config import CommonSettings, KafkaSettings, MongoSettings, load_settings
from mesh.events.kafka import ensure_topics, make_producer
from mesh.logs import configure_logging
from mesh.storage.from_settings import open_mongo
from mesh.telemetry import configure_telemetry
from mesh.worker import stop_on_signals
from outbox_relay.relay import OutboxRelay

log = logging.getLogger("assist.events")


class RelaySettings(CommonSettings, MongoSettings, KafkaSettings):
    """The relay's settings; several relays may run at once, each needs a distinct RELAY_ID (default host:pid)."""

    service_name: str = "relay"
    relay_id: str = ""
    # The longest pause between polls of a quiet outbox (RELAY_IDLE_MAX_S). Each poll is a few queries
    # through FerretDB to PostgreSQL, so at 2 s the idle relay was one of the stack's larger idle costs
    # (issue 8). 5 s delays only the first event after a quiet spell, by at most that much; the events'
    # only reader is the analytics consumer, whose dashboards scrape every 15 s over 1 m windows.
    relay_idle_max_s: float = 5.0


async def run(settings: RelaySettings) -> None:
    """Relay until SIGTERM or SIGINT; MongoDB or Kafka being down at start only delays delivery."""
    stop = stop_on_signals()
    relay_id = settings.relay_id or f"{socket.gethostname()}:{os.getpid()}"
    async with open_mongo(settings) as db:
        try:
            await ensure_topics(settings.kafka_bootstrap)
        except KafkaError as exc:  # the broker may be down; the relay retries publishing anyway
            log.warning("could not ensure topics at start: %s", exc)
        relay = OutboxRelay(
            db,
            lambda: make_producer(settings.kafka_bootstrap, client_id=f"assist-relay-{relay_id}"),
            relay_id,
            idle_max_s=settings.relay_idle_max_s,
        )
        log.info("relay %s started", relay_id)
        await relay.run_forever(stop)
        log.info("relay %s stopped", relay_id)


def main() -> None:
    settings = load_settings(RelaySettings)
    configure_logging(settings.service_name, settings.log_level)
    configure_telemetry(settings, grpc_server=False)
    event_loop.run(run(settings))


if __name__ == "__main__":
    main()
