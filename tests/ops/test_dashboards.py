"""The dashboards: current with their source, every query valid PromQL, and every query answered by the
local Prometheus scraping a live mesh after traffic (a query returning nothing is a broken panel)."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import httpx
import promql_parser
import pytest

from devtools.dashboards.build import OUT_DIR, expressions, rendered
from devtools.dashboards.render import concrete, render
from devtools.stack.prometheus import SCRAPE_INTERVAL_S
from testing.sse import new_conversation, send_message
from tests.mesh_fixture import MeshUnderTest


def _all_queries() -> list[tuple[str, str, str]]:
    return [
        (name, title, expr)
        for name in sorted(rendered())
        for title, expr in expressions(json.loads((OUT_DIR / name).read_text()))
    ]


def test_committed_dashboards_are_what_the_generator_builds() -> None:
    for name, text in rendered().items():
        path = OUT_DIR / name
        assert path.is_file(), f"{path} missing: run python -m devtools.dashboards"
        assert path.read_text() == text, f"{path} is stale: run python -m devtools.dashboards"


def test_every_dashboard_query_is_valid_promql() -> None:
    queries = _all_queries()
    assert len(queries) >= 30
    for name, title, expr in queries:
        try:
            promql_parser.parse(concrete(expr, "m"))
        except ValueError as exc:
            pytest.fail(f"{name} / {title}: {exc}: {expr}")


def test_the_parser_rejects_a_broken_query() -> None:
    with pytest.raises(ValueError):
        promql_parser.parse("sum(rate(assist_turns_total[1m])")


ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboards"


def _traffic(mesh_up: MeshUnderTest) -> None:
    """Turns, thumbs both ways and a satisfaction score, as users of the widget make them."""
    with httpx.Client(base_url=mesh_up.edge_url, timeout=30) as client:
        for user, question in (("carol", "What is late?"), ("ana", "quero falar com um atendente")):
            headers = mesh_up.auth(user)
            conversation_id = new_conversation(client, headers)
            turn = send_message(
                client, conversation_id, question, headers, client_message_id=uuid.uuid4().hex
            )
            assert turn.status == 200
            message_id = turn.first("done")["messageId"]
            rating = "FEEDBACK_RATING_UP" if user == "carol" else "FEEDBACK_RATING_DOWN"
            reply = client.post(
                f"/v1/messages/{message_id}/feedback", json={"rating": rating}, headers=headers
            )
            assert reply.status_code == 200, reply.text
            reply = client.post(
                f"/v1/conversations/{conversation_id}/satisfaction", json={"score": 4}, headers=headers
            )
            assert reply.status_code == 200, reply.text


@pytest.mark.e2e
def test_every_dashboard_query_returns_data_from_a_live_mesh(mesh_up: MeshUnderTest) -> None:
    prometheus = mesh_up.mesh.env.get("PROMETHEUS_URL", "")
    assert prometheus and mesh_up.mesh.scrape_targets_file is not None, (
        "the stack's Prometheus is not running"
    )
    _traffic(mesh_up)
    # Two scrapes between the bursts, so rates have two samples that differ.
    time.sleep(2 * SCRAPE_INTERVAL_S + 1)
    _traffic(mesh_up)
    deadline = time.monotonic() + 60 + 2 * SCRAPE_INTERVAL_S
    empty: list[str] = []
    while time.monotonic() < deadline:
        empty = []
        for name, title, expr in _all_queries():
            reply = httpx.get(
                f"{prometheus}/api/v1/query",
                params={"query": concrete(expr, mesh_up.mesh.mesh_id)},
                timeout=10,
            )
            assert reply.status_code == 200, f"{name} / {title}: {reply.text}"
            if not reply.json()["data"]["result"]:
                empty.append(f"{name} / {title}: {expr}")
        if not empty:
            # The panels as pictures (no Grafana runs here): test-artifacts/dashboards/<dashboard>.png
            shots = render(prometheus, mesh_up.mesh.mesh_id, ARTIFACTS, minutes=5)
            assert shots, "the renderer drew no dashboard"
            return
        time.sleep(5)
    pytest.fail("queries with no data after traffic:\n" + "\n".join(empty))
