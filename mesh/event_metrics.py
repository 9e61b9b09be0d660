"""Metrics of the event path (outbox -> relay -> Kafka -> analytics): is delivery keeping up?

  assist_outbox_backlog{collection}            documents with pending outbox entries at the last pass
                                               (counted up to the relay's batch size: a floor when large)
  assist_outbox_relay_lag_seconds{collection}  from an entry becoming pending to Kafka acknowledging it
  assist_consumer_lag{topic}                   records in Kafka not yet consumed by the analytics group

Labels are the fixed collection and topic names only.
"""

from __future__ import annotations

from collections.abc import Iterable

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

_meter = metrics.get_meter("assist.events")

# Backlog and consumer lag are levels read at the last pass; gauges observed at scrape time.
_backlog: dict[str, int] = {}
_consumer_lag: dict[str, int] = {}


def _observe(values: dict[str, int], label: str) -> Iterable[Observation]:
    return [Observation(v, {label: k}) for k, v in sorted(values.items())]


def _backlog_callback(_: CallbackOptions) -> Iterable[Observation]:
    return _observe(_backlog, "collection")


def _consumer_lag_callback(_: CallbackOptions) -> Iterable[Observation]:
    return _observe(_consumer_lag, "topic")


_meter.create_observable_gauge(
    "assist.outbox.backlog",
    callbacks=[_backlog_callback],
    unit="{document}",
    description="Documents with outbox entries waiting to be relayed, at the relay's last pass.",
)
_meter.create_observable_gauge(
    "assist.consumer.lag",
    callbacks=[_consumer_lag_callback],
    unit="{record}",
    description="Records in Kafka the analytics consumer group has not consumed yet, by topic.",
)
RELAY_LAG = _meter.create_histogram(
    "assist.outbox.relay_lag",
    unit="s",
    description="From an outbox entry becoming pending to Kafka acknowledging it, by collection.",
    explicit_bucket_boundaries_advisory=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0),
)


def set_outbox_backlog(collection: str, documents: int) -> None:
    _backlog[collection] = documents


def record_relay_lag(collection: str, seconds: float) -> None:
    RELAY_LAG.record(max(0.0, seconds), {"collection": collection})


def set_consumer_lag(topic: str, records: int) -> None:
    _consumer_lag[topic] = max(0, records)
