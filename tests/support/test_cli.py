"""`python -m support` as the support team runs it: a real process, configured through the environment."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

from redis.asyncio import Redis

from mesh.storage.mongo import Database
from tests.local_stack import ROOT, Stack, mongo_uri_for, subprocess_env
from tests.support.seed import seed_user


def support(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "support", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_a_complaint_is_traced_from_message_id_to_turns_export_and_erasure(
    stack: Stack, database_name: str, db: Database, redis: Redis, tmp_path: Path
) -> None:
    user = f"eva-{uuid.uuid4().hex[:8]}"
    footprint = await seed_user(db, redis, user, turns=1)
    disliked = footprint.message_ids[0]
    turn = await db.turns.find_one({"_id": disliked})
    assert turn is not None
    env = subprocess_env(
        MONGO_URI=mongo_uri_for(stack, database_name),
        REDIS_URL=stack.redis_url,
        SUPPORT_RECEIPT_DIR=str(tmp_path / "receipts"),
    )

    shown = support(env, "show", "--message", disliked)
    assert shown.returncode == 0, shown.stderr
    assert "<== this message" in shown.stdout
    assert f"trace {turn['trace_id']}" in shown.stdout
    assert "intent TASKS_OVERDUE" in shown.stdout and "writer GEMINI" in shown.stdout
    assert "degraded CONTEXT" in shown.stdout
    assert 'feedback DOWN "wrong date for me"' in shown.stdout

    found = support(env, "find", "--user", user, "--json")
    assert sorted(c["conversation_id"] for c in json.loads(found.stdout)) == sorted(
        footprint.conversation_ids
    )

    out = tmp_path / "conversation.json"
    exported = support(env, "export", turn["conversation_id"], "--output", str(out))
    assert exported.returncode == 0, exported.stderr
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["turns"][0]["message_id"] == disliked
    assert data["turns"][0]["feedback"]["rating"] == "DOWN"

    dry = support(env, "erase-user", user, "--json")
    assert json.loads(dry.stdout)["dry_run"] is True
    assert await db.turns.count_documents({"user_id": user}) == 2

    erased = support(env, "erase-user", user, "--yes", "--request-id", "LGPD-2026-001")
    assert erased.returncode == 0, erased.stderr
    assert "Erasure receipt LGPD-2026-001" in erased.stdout
    receipt = json.loads((tmp_path / "receipts" / "erasure-LGPD-2026-001.json").read_text(encoding="utf-8"))
    assert receipt["deleted"]["mongo.turns"] == 2
    assert await db.turns.count_documents({"user_id": user}) == 0
    assert support(env, "find", "--message", disliked).returncode == 1


def test_retention_without_retention_days_names_the_missing_variable(stack: Stack) -> None:
    env = subprocess_env(MONGO_URI=stack.mongo_uri)
    env.pop("RETENTION_DAYS", None)

    result = support(env, "retention")

    assert result.returncode != 0
    assert "RETENTION_DAYS" in result.stderr
