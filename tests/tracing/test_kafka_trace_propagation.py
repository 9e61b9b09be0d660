"""A turn's trace crosses Kafka: outbox entry -> relay's record headers -> analytics consumer's span."""

from __future__ import annotations

from assist.v1 import events_pb2
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from analytics.consumer import process_span, store_span
from mesh.storage.mongo import outbox_entry
from mesh.trace_context import context_from_kafka_headers, current_trace_id, kafka_headers, span_context_of
from outbox_relay.relay import send_span

tracer = trace.get_tracer("tests")
TOPIC = "assist.interactions.v1"


def _envelope() -> events_pb2.EventEnvelope:
    return events_pb2.EventEnvelope(event_id="e1", interaction=events_pb2.InteractionEvent(turn_id="t1"))


def test_an_outbox_entry_written_in_a_turn_stores_that_turns_trace_context(
    spans: InMemorySpanExporter,
) -> None:
    with tracer.start_as_current_span("turn") as turn:
        entry = outbox_entry(TOPIC, "c1", _envelope())
        trace_id = current_trace_id()
    stored = span_context_of(
        context_from_kafka_headers([(k, v.encode()) for k, v in entry["trace_context"].items()])
    )
    assert stored.trace_id == turn.get_span_context().trace_id
    assert stored.span_id == turn.get_span_context().span_id
    assert entry["trace_context"]["traceparent"].split("-")[1] == trace_id


def test_an_outbox_entry_written_outside_any_trace_stores_no_context() -> None:
    assert "trace_context" not in outbox_entry(TOPIC, "c1", _envelope())
    assert current_trace_id() == ""


def test_the_relay_sends_in_the_stored_trace_and_the_consumer_continues_it(
    spans: InMemorySpanExporter,
) -> None:
    with tracer.start_as_current_span("turn") as turn:
        entry = outbox_entry(TOPIC, "c1", _envelope())
    turn_context = turn.get_span_context()

    # The relay runs later, in another process, outside the turn: only the stored context links them.
    producer = send_span(entry)
    headers = kafka_headers(trace.set_span_in_context(producer))
    producer.end()
    assert dict(headers)["traceparent"].decode().split("-")[1] == trace.format_trace_id(turn_context.trace_id)

    consumer = process_span(TOPIC, 0, 42, headers)
    with store_span([consumer]):
        pass
    consumer.end()

    finished = {s.name: s for s in spans.get_finished_spans()}
    send, process, store = (
        finished[f"send {TOPIC}"],
        finished[f"process {TOPIC}"],
        finished["store analytics facts"],
    )
    assert {s.context.trace_id for s in (send, process, store)} == {turn_context.trace_id}
    assert send.parent is not None and send.parent.span_id == turn_context.span_id
    assert send.kind == trace.SpanKind.PRODUCER and (send.attributes or {})["messaging.message.id"] == "e1"
    assert process.parent is not None and process.parent.span_id == send.context.span_id
    assert process.kind == trace.SpanKind.CONSUMER
    assert store.parent is not None and store.parent.span_id == process.context.span_id
    assert list(store.links) == []  # the parent says it already


def test_a_batch_of_several_records_is_stored_in_a_span_linked_to_each_without_a_parent(
    spans: InMemorySpanExporter,
) -> None:
    records = []
    for _ in range(2):
        with tracer.start_as_current_span("turn"):
            records.append(process_span(TOPIC, 0, 1, kafka_headers()))
    with store_span(records):
        pass
    for record in records:
        record.end()
    [store] = [s for s in spans.get_finished_spans() if s.name == "store analytics facts"]
    assert store.parent is None
    assert {link.context.trace_id for link in store.links} == {r.get_span_context().trace_id for r in records}
    assert len({r.get_span_context().trace_id for r in records}) == 2


def test_records_without_or_with_garbage_trace_headers_start_their_own_trace(
    spans: InMemorySpanExporter,
) -> None:
    for headers in (None, [], [("traceparent", b"not-a-traceparent")], [("traceparent", None)]):
        span = process_span(TOPIC, 0, 1, headers)  # type: ignore[arg-type]
        span.end()
    assert all(s.parent is None for s in spans.get_finished_spans())
