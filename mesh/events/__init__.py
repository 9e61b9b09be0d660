"""Events, the library half: Kafka topic names, encoding and the producer's settings.

Used by the stores (outbox entries), the relay process (`outbox_relay/`) and the analytics consumer
(`analytics/`). See docs/data.md for the topics and delivery guarantees.
"""
