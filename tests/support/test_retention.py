"""`retention`: conversations idle for RETENTION_DAYS go with all they hold; recent ones stay; run twice = once."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from datetime import timedelta
from typing import Any

import yaml
from assist.v1 import common_pb2

from mesh.storage.feedback import FeedbackStore
from mesh.storage.mongo import Database, utcnow
from mesh.storage.turns import ConversationStore
from support.retention import apply_retention
from testing.kube import ensure_tools
from tests.helm.chart import CHART
from tests.local_stack import ROOT, Stack, mongo_uri_for, subprocess_env
from tests.support.seed import one_turn, relay_and_count


async def conversation_aged(db: Database, user_id: str, age_days: int, *, last_turn_age_days: int) -> str:
    """A conversation created `age_days` ago whose turns were written `last_turn_age_days` ago."""
    conversation = await ConversationStore(db).create_conversation(user_id, common_pb2.PageContext())
    cid = conversation.conversation_id
    turn_id, _ = await one_turn(db, user_id, cid, "what is late?", "Nothing is late.")
    await relay_and_count(db, "turns", turn_id)
    await FeedbackStore(db).record_feedback(user_id, turn_id, common_pb2.FEEDBACK_RATING_UP, "")
    await FeedbackStore(db).record_satisfaction(user_id, cid, 5, "")
    created, touched = utcnow() - timedelta(days=age_days), utcnow() - timedelta(days=last_turn_age_days)
    await db.conversations.update_one({"_id": cid}, {"$set": {"create_time": created}})
    await db.turns.update_many({"conversation_id": cid}, {"$set": {"created_at": touched}})
    day = touched.date().isoformat()
    await db.analytics_events.update_many({"conversation_id": cid}, {"$set": {"day": day}})
    return cid


async def remaining(db: Database, cid: str) -> dict[str, int]:
    return {
        "conversations": await db.conversations.count_documents({"_id": cid}),
        "turns": await db.turns.count_documents({"conversation_id": cid}),
        "feedback": await db.feedback.count_documents({"conversation_id": cid}),
        "satisfaction": await db.satisfaction.count_documents({"conversation_id": cid}),
        "analytics_events": await db.analytics_events.count_documents({"conversation_id": cid}),
    }


async def test_retention_deletes_idle_conversations_keeps_active_ones_and_is_idempotent(db: Database) -> None:
    user = f"u-{uuid.uuid4().hex[:8]}"
    expired = await conversation_aged(db, user, 120, last_turn_age_days=100)
    old_but_active = await conversation_aged(db, user, 120, last_turn_age_days=3)
    recent = await conversation_aged(db, user, 10, last_turn_age_days=10)

    report = await apply_retention(db, 90)

    assert await remaining(db, expired) == dict.fromkeys(
        ("conversations", "turns", "feedback", "satisfaction", "analytics_events"), 0
    )
    assert await db.claims.count_documents({"resource": {"$regex": expired}}) == 0
    for kept in (old_but_active, recent):
        assert await remaining(db, kept) == {
            "conversations": 1,
            "turns": 1,
            "feedback": 1,
            "satisfaction": 1,
            "analytics_events": 1,
        }
    assert report.deleted["conversations"] == 1
    assert report.deleted["turns"] == 1
    assert report.deleted["feedback"] == 1
    assert report.deleted["satisfaction"] == 1
    assert report.deleted["analytics_events"] == 1
    assert report.kept_active == 1

    again = await apply_retention(db, 90)
    assert sum(again.deleted.values()) == 0
    assert again.kept_active == 1


async def test_retention_dry_run_counts_and_deletes_nothing(db: Database) -> None:
    cid = await conversation_aged(db, "someone", 400, last_turn_age_days=400)

    report = await apply_retention(db, 365, dry_run=True)

    assert (report.deleted["conversations"], report.deleted["turns"]) == (1, 1)
    assert (await remaining(db, cid))["turns"] == 1


def chart_retention_container(days: int) -> dict[str, Any]:
    """The container of the chart's retention CronJob, rendered with `retention.days=days`."""
    helm = ensure_tools("helm")["HELM"]
    args = ["template", "assist", str(CHART), "--set", f"retention.days={days}"]
    out = subprocess.run(
        [str(helm), *args, "--show-only", "templates/retention.yaml"],
        capture_output=True,
        text=True,
        check=True,
    )
    (cronjob,) = [d for d in yaml.safe_load_all(out.stdout) if d and d["kind"] == "CronJob"]
    (container,) = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    return dict(container)


def run_in_repo(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`command` with the repo's interpreter for `python`, run as the pod would (only its env)."""
    assert command[0] == "python"
    return subprocess.run(
        [sys.executable, *command[1:]],
        cwd=ROOT,
        env=subprocess_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_the_charts_cronjob_runs_retention_with_the_deployments_configuration(
    stack: Stack, database_name: str, db: Database
) -> None:
    """What the chart's CronJob would run (its command and env, the Secret's value filled in) really deletes."""
    container = await asyncio.to_thread(chart_retention_container, 90)
    secrets = {"MONGO_URI": mongo_uri_for(stack, database_name)}
    env = {e["name"]: e["value"] if "value" in e else secrets[e["name"]] for e in container["env"]}
    expired = await conversation_aged(db, "gil", 120, last_turn_age_days=100)
    recent = await conversation_aged(db, "gil", 10, last_turn_age_days=10)

    run = await asyncio.to_thread(run_in_repo, container["command"], env)

    assert run.returncode == 0, run.stderr
    assert "retention 90 days" in run.stdout
    assert sum((await remaining(db, expired)).values()) == 0
    assert sum((await remaining(db, recent)).values()) == 5
