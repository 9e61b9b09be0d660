"""`python -m support COMMAND`: the support team's commands (see docs/support.md for when to use which).

    find --message ID | --user USER | --since T [--until T] [--user USER]
    show CONVERSATION_ID | --message ID
    export CONVERSATION_ID [--output FILE]
    erase-user USER [--yes] [--request-id ID]      (without --yes: a dry run that only counts)
    retention [--dry-run]                          (RETENTION_DAYS; the chart's daily CronJob)
    export-cases [--since T] [--output FILE]

Every command but `export` and `export-cases` prints for a person; `--json` prints the same data for tools.
Configuration is the deployment's: MONGO_URI (all), REDIS_URL (erase-user), RETENTION_DAYS (retention).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mesh.config import load_settings
from mesh.logs import configure_logging
from mesh.storage.from_settings import open_mongo, open_redis
from mesh.storage.mongo import Database
from support import cases, render
from support.conversations import (
    conversation_of_message,
    find_by_user,
    find_in_range,
    read_conversation,
)
from support.erasure import erase_user, receipt_text
from support.retention import apply_retention
from support.settings import ErasureSettings, RetentionSettings, SupportSettings


def _when(text: str) -> datetime:
    """An ISO date or date-time; naive values are UTC."""
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _save(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2, default=str))


async def _with_db(settings: SupportSettings, work: Callable[[Database], Awaitable[int]]) -> int:
    async with open_mongo(settings) as db:
        return await work(db)


async def _find(db: Database, args: argparse.Namespace) -> int:
    if args.message:
        conversation_id = await conversation_of_message(db, args.message)
        found = [] if conversation_id is None else [await read_conversation(db, conversation_id)]
        summaries = [v.summary for v in found if v is not None]
    elif args.since:
        until = _when(args.until) if args.until else datetime.now(UTC)
        summaries = await find_in_range(db, _when(args.since), until, user_id=args.user, limit=args.limit)
    else:
        summaries = await find_by_user(db, args.user, limit=args.limit)
    if args.json:
        _print_json([s.__dict__ for s in summaries])
    else:
        print(render.conversations(summaries))
    return 0 if summaries else 1


async def _show(db: Database, args: argparse.Namespace) -> int:
    conversation_id = args.conversation
    if args.message:
        conversation_id = await conversation_of_message(db, args.message)
    view = await read_conversation(db, conversation_id) if conversation_id else None
    if view is None:
        print("no such conversation", file=sys.stderr)
        return 1
    if args.json:
        _print_json(view.as_json())
    else:
        print(render.conversation(view, highlight=args.message or ""))
    return 0


async def _export(db: Database, args: argparse.Namespace) -> int:
    view = await read_conversation(db, args.conversation)
    if view is None:
        print("no such conversation", file=sys.stderr)
        return 1
    text = json.dumps(view.as_json(), ensure_ascii=False, indent=2, default=str) + "\n"
    if args.output:
        await asyncio.to_thread(Path(args.output).write_text, text, encoding="utf-8")
        print(f"exported {len(view.turns)} turns to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


async def _erase(settings: ErasureSettings, args: argparse.Namespace) -> int:
    async with open_mongo(settings) as db, open_redis(settings) as redis:
        receipt = await erase_user(db, redis, args.user, request_id=args.request_id, dry_run=not args.yes)
    if args.json:
        _print_json(receipt.as_json())
    else:
        print(receipt_text(receipt, args.user))
    if receipt.dry_run:
        print("\n(dry run: nothing deleted; run again with --yes to erase)", file=sys.stderr)
        return 0
    path = Path(settings.support_receipt_dir) / f"erasure-{receipt.request_id}.json"
    await asyncio.to_thread(_save, path, json.dumps(receipt.as_json(), indent=2) + "\n")
    print(f"\nreceipt saved to {path}", file=sys.stderr)
    return 0


async def _retention(db: Database, days: int, args: argparse.Namespace) -> int:
    report = await apply_retention(db, days, dry_run=args.dry_run)
    if args.json:
        _print_json(report.as_json())
    else:
        verb = "would delete" if report.dry_run else "deleted"
        print(f"retention {report.days} days, cutoff {report.cutoff[:19]} UTC: {verb}")
        for store in ("conversations", "turns", "feedback", "satisfaction", "claims", "analytics_events"):
            print(f"  {store:<18} {report.deleted[store]:>7}")
        print(f"  old conversations kept (active since the cutoff): {report.kept_active}")
    return 0


async def _export_cases(db: Database, args: argparse.Namespace) -> int:
    found = await cases.export_cases(db, since=_when(args.since) if args.since else None, limit=args.limit)
    added, known = await asyncio.to_thread(cases.merge_into, Path(args.output), found)
    print(f"{added} new candidate case(s) written to {args.output} ({known} already there), review pending")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m support", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    find = sub.add_parser("find", help="find conversations by message id, user, or time range")
    find.add_argument("--message", help="an assistant or user message id")
    find.add_argument("--since", help="start of a time range (ISO date or date-time, UTC)")
    find.add_argument("--until", help="end of the time range (default now)")
    find.add_argument("--user", default="", help="the user id (alone, or to narrow a time range)")
    find.add_argument("--limit", type=int, default=20)
    find.add_argument("--json", action="store_true")

    show = sub.add_parser(
        "show", help="a conversation's turns: intent, writer, degraded parts, feedback, trace"
    )
    which = show.add_mutually_exclusive_group(required=True)
    which.add_argument("conversation", nargs="?", help="the conversation id")
    which.add_argument("--message", help="a message id of the conversation (it is marked)")
    show.add_argument("--json", action="store_true")

    export = sub.add_parser("export", help="a conversation as JSON (for a data-access request or a ticket)")
    export.add_argument("conversation")
    export.add_argument("--output", "-o", help="file to write (default stdout)")

    erase = sub.add_parser("erase-user", help="erase everything about a user (LGPD art. 18), with a receipt")
    erase.add_argument("user")
    erase.add_argument("--yes", action="store_true", help="really delete (without it: a dry run)")
    erase.add_argument("--request-id", default="", help="the data request's id, kept on the receipt")
    erase.add_argument("--json", action="store_true")

    retention = sub.add_parser("retention", help="delete conversations idle for RETENTION_DAYS")
    retention.add_argument("--dry-run", action="store_true")
    retention.add_argument("--json", action="store_true")

    export_cases = sub.add_parser("export-cases", help="thumbs-down answers -> candidate eval cases")
    export_cases.add_argument("--since", help="only feedback given since (ISO date or date-time, UTC)")
    export_cases.add_argument("--output", "-o", default="eval/feedback_cases.json")
    export_cases.add_argument("--limit", type=int, default=500)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "find" and not (args.message or args.since or args.user):
        parser().error("find needs --message, --user or --since")
    if args.command == "erase-user":
        erasure = load_settings(ErasureSettings)
        configure_logging(erasure.service_name, erasure.log_level)
        return asyncio.run(_erase(erasure, args))
    if args.command == "retention":
        retention = load_settings(RetentionSettings)
        configure_logging(retention.service_name, retention.log_level)
        return asyncio.run(_with_db(retention, lambda db: _retention(db, retention.retention_days, args)))
    settings = load_settings(SupportSettings)
    configure_logging(settings.service_name, settings.log_level)
    commands: dict[str, Callable[[Database, argparse.Namespace], Awaitable[int]]] = {
        "find": _find,
        "show": _show,
        "export": _export,
        "export-cases": _export_cases,
    }
    return asyncio.run(_with_db(settings, lambda db: commands[args.command](db, args)))
