"""`python -m analytics`: the analytics consumer process (MONGO_URI, KAFKA_BOOTSTRAP; stops on SIGTERM)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka.errors import KafkaError

from analytics.consumer import AnalyticsConsumer
from mesh import event_loop
from mesh.config import CommonSettings, KafkaSettings, MongoSettings, load_settings
from mesh.logs import configure_logging
from mesh.storage.from_settings import open_mongo
from mesh.telemetry import configure_telemetry
from mesh.worker import stop_on_signals

log = logging.getLogger("assist.analytics")


class AnalyticsSettings(CommonSettings, MongoSettings, KafkaSettings):
    """The consumer's settings; every instance with the same group id shares the partitions."""

    service_name: str = "analytics"
    analytics_group_id: str = "assist-analytics"


async def run(settings: AnalyticsSettings) -> None:
    """Consume until SIGTERM or SIGINT, joining the group as soon as Kafka answers."""
    stop = stop_on_signals()
    async with open_mongo(settings) as db:
        consumer = AnalyticsConsumer(db, settings.kafka_bootstrap, settings.analytics_group_id)
        delay = 0.5
        while not stop.is_set():
            try:
                await consumer.start()
                break
            except KafkaError as exc:  # Kafka not reachable yet (connection refused, metadata timeout)
                await consumer.stop()
                log.warning("cannot join the consumer group yet (%s); retrying in %.1f s", exc, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)
                delay = min(5.0, delay * 2)
        if stop.is_set():
            return
        log.info("analytics consumer started (group %s)", settings.analytics_group_id)
        try:
            await consumer.run_forever(stop)
        finally:
            await consumer.stop()
        log.info("analytics consumer stopped")


def main() -> None:
    settings = load_settings(AnalyticsSettings)
    configure_logging(settings.service_name, settings.log_level)
    configure_telemetry(settings, grpc_server=False)
    event_loop.run(run(settings))


if __name__ == "__main__":
    main()
