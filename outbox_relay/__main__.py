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
