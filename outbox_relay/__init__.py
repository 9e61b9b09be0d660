"""The outbox relay: a process that moves the events stored beside each change (the outbox) to Kafka.

`python -m outbox_relay` runs it. See docs/data.md for the topics and delivery guarantees.
"""
