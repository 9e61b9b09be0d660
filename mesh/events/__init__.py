"""Events: the Kafka topics and producer settings, and the outbox relay that moves stored events to Kafka.

`python -m mesh.events` runs the relay. See docs/data.md for the topics and delivery guarantees.
"""
