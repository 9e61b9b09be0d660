"""Past chats imported with import-history are listed for their user, through the edge as the widget asks
(`GET /v1/conversations`), and never for anyone else."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from rich.console import Console

from history_import.__main__ import run
from mesh.config import MongoSettings
from testing.sse import new_conversation
from tests.local_stack import ROOT
from tests.mesh_fixture import MeshUnderTest

pytestmark = pytest.mark.e2e


def _listed(client: httpx.Client, mesh_up: MeshUnderTest, user_id: str, **params: str) -> dict[str, object]:
    response = client.get("/v1/conversations", headers=mesh_up.auth(user_id), params=params)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def _ids(body: dict[str, object]) -> list[str]:
    conversations = body.get("conversations", [])
    assert isinstance(conversations, list)
    return [c["conversation"]["conversationId"] for c in conversations]


def test_an_imported_conversation_is_listed_for_its_user_only(mesh_up: MeshUnderTest) -> None:
    settings = MongoSettings(mongo_uri=mesh_up.mongo_uri, mongo_timeout_ms=5000)
    asyncio.run(run(ROOT / "samples" / "history-good.jsonl", settings, Console(quiet=True)))
    with httpx.Client(base_url=mesh_up.edge_url, timeout=30) as client:
        ana = _listed(client, mesh_up, "ana")
        assert "past-ana-1" in _ids(ana) and "past-bruno-1" not in _ids(ana)
        conversations = ana["conversations"]
        assert isinstance(conversations, list)
        past = next(c for c in conversations if c["conversation"]["conversationId"] == "past-ana-1")
        assert past["imported"] is True and past["preview"] == "O que está atrasado?"
        bruno = _ids(_listed(client, mesh_up, "bruno"))
        assert "past-bruno-1" in bruno and "past-ana-1" not in bruno
        messages = client.get("/v1/conversations/past-ana-1/messages", headers=mesh_up.auth("bruno"))
        assert messages.status_code == 404
        assert client.get("/v1/conversations").status_code == 401


def test_the_list_is_newest_first_and_pages_with_the_token(mesh_up: MeshUnderTest) -> None:
    user_id = "pager-e2e"
    with httpx.Client(base_url=mesh_up.edge_url, timeout=30) as client:
        started = [new_conversation(client, mesh_up.auth(user_id)) for _ in range(3)]
        first = _listed(client, mesh_up, user_id, pageSize="2")
        token = first["nextPageToken"]
        assert isinstance(token, str) and token
        second = _listed(client, mesh_up, user_id, pageSize="2", pageToken=token)
        assert _ids(first) + _ids(second) == started[::-1]
        assert "nextPageToken" not in second
        bad = client.get("/v1/conversations", headers=mesh_up.auth(user_id), params={"pageToken": "nope"})
        assert bad.status_code == 400
