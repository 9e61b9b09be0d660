"""One turn through the edge is one trace in Jaeger: edge, coordinator, every agent called, MongoDB, Redis, Kafka.

The mesh runs as real processes exporting OTLP to the stack's Jaeger (tests/mesh_fixture.py sets the
endpoint); the test reads the trace back through Jaeger's query API, starting from the message id the
widget shows, as a support person would.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from typing import Any

import httpx
import pytest

from devtools.trace import count_spans, span_tree, trace_url
from mesh.storage.mongo import connect, default_database
from mesh.storage.turns import TurnStore
from testing.sse import new_conversation, send_message
from tests.local_stack import ROOT, Stack
from tests.mesh_fixture import MeshUnderTest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

QUESTION = "What is late?"
# The agents a question about late tasks goes through, the coordinator, the edge, and the two Kafka hops.
EXPECTED_SERVICES = {"edge", "coordinator", "guard", "nlu", "context", "tasks", "nlg", "relay", "analytics"}


async def _trace_id_of(mongo_uri: str, message_id: str) -> str:
    client = connect(mongo_uri, 3000)
    try:
        turn = await TurnStore(default_database(client)).turn_for_message(message_id)
    finally:
        await client.close()
    assert turn is not None
    return turn.trace_id


def _wait_for_trace(query_url: str, trace_id: str, timeout_s: float = 60.0) -> dict[str, Any]:
    """The trace once every expected service has reported (the relay and consumer come seconds later)."""
    deadline = time.monotonic() + timeout_s
    found: dict[str, Any] = {}
    while time.monotonic() < deadline:
        reply = httpx.get(trace_url(query_url, trace_id), timeout=5)
        if reply.status_code == 200 and reply.json().get("data"):
            found = reply.json()["data"][0]
            if _services(found) >= EXPECTED_SERVICES:
                return found
        time.sleep(1.0)
    return found


def _services(jaeger_trace: dict[str, Any]) -> set[str]:
    processes = jaeger_trace.get("processes", {})
    return {processes[s["processID"]]["serviceName"] for s in jaeger_trace.get("spans", [])}


def _tags(span: dict[str, Any]) -> dict[str, Any]:
    return {tag["key"]: tag["value"] for tag in span.get("tags", [])}


def test_one_turn_is_one_trace_from_the_edge_through_every_agent_mongodb_and_kafka(
    stack: Stack, mesh_up: MeshUnderTest
) -> None:
    assert stack.jaeger_query_url, "scripts/stack.sh env gave no JAEGER_QUERY_URL: is jaeger in the stack?"
    headers = mesh_up.auth("carol")
    with httpx.Client(base_url=mesh_up.edge_url, timeout=30) as client:
        conversation_id = new_conversation(client, headers)
        turn = send_message(client, conversation_id, QUESTION, headers, client_message_id=uuid.uuid4().hex)
    assert turn.status == 200
    message_id = turn.first("done")["messageId"]

    trace_id = asyncio.run(_trace_id_of(mesh_up.mongo_uri, message_id))
    assert len(trace_id) == 32 and int(trace_id, 16) != 0
    found = _wait_for_trace(stack.jaeger_query_url, trace_id)
    assert found, f"Jaeger has no trace {trace_id}"
    assert _services(found) >= EXPECTED_SERVICES, _services(found)

    spans = found["spans"]
    assert {s["traceID"] for s in spans} == {trace_id}
    roots = span_tree(found)
    assert len(roots) == 1, [r.name for r in roots]  # every span hangs from the edge's request span
    assert (roots[0].service, roots[0].name) == ("edge", "POST /v1/conversations/{conversation_id}/messages")
    assert count_spans(roots) == len(spans)
    names = {s["operationName"] for s in spans}
    assert "/assist.v1.CoordinatorService/Converse" in names
    assert "process assist.interactions.v1" in names and "send assist.interactions.v1" in names
    systems = {_tags(s).get("db.system") or _tags(s).get("db.system.name") for s in spans}
    assert {"mongodb", "redis"} <= systems, systems
    # The user's words are in no span (statements are not captured, prompts are not recorded).
    for span in spans:
        for value in _tags(span).values():
            assert QUESTION not in str(value), span["operationName"]

    # As support would: from the message id to the printed tree.
    shown = subprocess.run(
        [sys.executable, "-m", "devtools.trace", message_id, "--wait", "0"],
        env={**os.environ, "MONGO_URI": mesh_up.mongo_uri, "JAEGER_QUERY_URL": stack.jaeger_query_url},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert trace_url(stack.jaeger_query_url, trace_id) in shown
    assert "[analytics] process assist.interactions.v1" in shown
    artifacts = ROOT / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "turn-trace.txt").write_text(shown)
