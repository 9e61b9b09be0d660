"""Producer settings, the envelope encoding, and topic creation against the local broker."""

from __future__ import annotations

import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from assist.v1 import common_pb2, events_pb2
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import given
from hypothesis import strategies as st

from mesh.events.kafka import ALL_TOPICS, decode, encode, ensure_topics, make_producer
from tests.local_stack import Stack


@given(
    event_id=st.text(min_size=1, max_size=40),
    user_id=st.text(max_size=20),
    latency_ms=st.integers(min_value=0, max_value=2**62),
    degraded=st.lists(st.sampled_from([common_pb2.COMPONENT_NLU, common_pb2.COMPONENT_TASKS]), max_size=3),
)
def test_encode_decode_round_trip(event_id: str, user_id: str, latency_ms: int, degraded: list[int]) -> None:
    envelope = events_pb2.EventEnvelope(
        event_id=event_id,
        occur_time=Timestamp(seconds=1_700_000_000),
        interaction=events_pb2.InteractionEvent(
            user_id=user_id,
            latency_ms=latency_ms,
            degraded_components=[common_pb2.Component.ValueType(c) for c in degraded],
        ),
    )
    assert decode(encode(envelope)) == envelope


@pytest.mark.stack
async def test_producer_is_idempotent_with_acks_all(stack: Stack) -> None:
    producer = make_producer(stack.kafka_bootstrap)
    try:
        # aiokafka exposes no public getters; these are the attributes its constructor sets.
        assert producer._txn_manager is not None  # idempotence on (it is off by default)
        assert producer._sender._acks == -1  # acks="all" (the default is 1)
        assert producer._request_timeout_ms == 10_000
        await producer.start()
        await producer.send_and_wait(f"test.assist.{uuid.uuid4().hex[:8]}", b"x", key=b"k")
    finally:
        await producer.stop()


@pytest.mark.stack
async def test_ensure_topics_creates_missing_topics_and_is_idempotent(stack: Stack) -> None:
    topics = [f"test.assist.topics.{uuid.uuid4().hex[:8]}", f"test.assist.topics.{uuid.uuid4().hex[:8]}"]
    await ensure_topics(stack.kafka_bootstrap, topics, partitions=2)
    await ensure_topics(stack.kafka_bootstrap, topics, partitions=2)
    await ensure_topics(stack.kafka_bootstrap)
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        assert set(topics) | set(ALL_TOPICS) <= existing
        described = await admin.describe_topics(topics)
        assert all(len(t["partitions"]) == 2 for t in described)
    finally:
        await admin.close()
