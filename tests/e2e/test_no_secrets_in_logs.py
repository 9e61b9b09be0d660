"""No secrets or personal data in what the mesh's processes write (OWASP LLM02): a test sends turns carrying
personal data with real tokens (and one forged token), then scans every log file of the mesh and every span
attribute Jaeger holds for its services since the test began (tests/secret_scan.py says what counts)."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from testing.sse import new_conversation, send_message
from tests.local_stack import Stack
from tests.mesh_fixture import MeshUnderTest
from tests.secret_scan import jaeger_spans, scan_logs, scan_spans

pytestmark = pytest.mark.e2e

SERVICES = ("edge", "coordinator", "guard", "nlu", "context", "tasks", "nlg", "feedback")


def _messages() -> list[str]:
    """Texts only this run sent, so finding one in a log can only come from this test."""
    run = uuid.uuid4().hex[:6]
    return [
        f"My e-mail is maria.souza.{run}@example.com, what is late?",
        f"Call me on +55 11 98765-{run[:4].translate(str.maketrans('abcdef', '123456'))} about task Zanzibar{run}",
        f"Is the Quokka{run} migration blocked?",
    ]


def test_logs_and_spans_hold_no_tokens_keys_emails_or_message_texts(
    mesh_up: MeshUnderTest, stack: Stack
) -> None:
    assert stack.jaeger_query_url, "no JAEGER_QUERY_URL from scripts/stack.sh env"
    began = time.time() - 1
    user = f"pii-{uuid.uuid4().hex[:8]}"
    headers = mesh_up.auth(user)
    token = headers["Authorization"].split()[1]
    forged = token[:-6] + ("AAAAAA" if not token.endswith("AAAAAA") else "BBBBBB")
    texts = _messages()
    with httpx.Client(base_url=mesh_up.edge_url, timeout=30) as client:
        conversation_id = new_conversation(client, headers)
        for text in texts:
            turn = send_message(client, conversation_id, text, headers, client_message_id=uuid.uuid4().hex)
            assert turn.status == 200
        refused = client.get("/v1/conversations", headers={"Authorization": f"Bearer {forged}"})
        assert refused.status_code == 401
    time.sleep(3)  # spans leave in batches; log lines are flushed per line
    secrets = [token, forged, *texts]
    hits = scan_logs(mesh_up.mesh.log_dir, secrets)
    spans = jaeger_spans(stack.jaeger_query_url, SERVICES, began)
    assert spans, "Jaeger holds spans of this test's turns (else the span half of the scan saw nothing)"
    hits += scan_spans(spans, secrets)
    assert not hits, "\n".join(str(h) for h in hits[:20])
