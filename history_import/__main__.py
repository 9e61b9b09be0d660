"""`python -m history_import FILE [--report FILE]` (locally `./dev import-history FILE`), with MONGO_URI.

Reads the whole file first (every row checked, messages grouped by conversation), then writes one
conversation at a time with a progress bar on a terminal, and prints a summary: conversations imported,
already there, skipped, and every bad row with its line number and reason. Exit status 1 when a row was bad.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from history_import.rows import BadRow, Message, check, read_rows
from history_import.store import OwnedByAnotherUser, import_conversation
from mesh.config import MongoSettings, load_settings
from mesh.storage.from_settings import open_mongo


@dataclass
class Summary:
    """What a run did."""

    rows: int = 0
    imported: int = 0
    already: int = 0
    messages_imported: int = 0
    skipped: dict[str, str] = field(default_factory=dict)
    bad_rows: list[BadRow] = field(default_factory=list)
    seconds: float = 0.0

    def lines(self) -> list[str]:
        rate = self.rows / self.seconds if self.seconds else 0.0
        out = [
            f"rows read: {self.rows} in {self.seconds:.2f} s ({rate:.0f} rows/s)",
            f"conversations imported: {self.imported} ({self.messages_imported} messages)",
            f"conversations already imported: {self.already}",
            f"conversations skipped: {len(self.skipped)}",
            f"bad rows: {len(self.bad_rows)}",
        ]
        out += [f"  line {b.line}: {b.reason}" for b in self.bad_rows]
        out += [f"  conversation {cid} skipped: {why}" for cid, why in sorted(self.skipped.items())]
        return out


def group(path: Path, summary: Summary) -> dict[str, list[Message]]:
    """Valid conversations by id; bad rows recorded, and their conversations left out whole."""
    conversations: dict[str, list[Message]] = defaultdict(list)
    for line, fields in read_rows(path):
        summary.rows += 1
        result = check(line, fields) if isinstance(fields, dict) else BadRow(line, fields)
        if isinstance(result, BadRow):
            summary.bad_rows.append(result)
            if result.conversation_id:
                summary.skipped.setdefault(result.conversation_id, f"line {line} is bad")
            continue
        conversations[result.conversation_id].append(result)
    for cid, messages in conversations.items():
        if len({m.user_id for m in messages}) > 1:
            summary.skipped.setdefault(cid, "its rows name more than one user_id")
    return {cid: m for cid, m in conversations.items() if cid not in summary.skipped}


async def run(path: Path, settings: MongoSettings, console: Console) -> Summary:
    started = time.monotonic()
    summary = Summary()
    conversations = group(path, summary)
    columns = (TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    async with open_mongo(settings) as db:
        with Progress(*columns, console=console, disable=not console.is_terminal) as progress:
            bar = progress.add_task("conversations", total=len(conversations))
            for cid, messages in conversations.items():
                try:
                    fresh = await import_conversation(db, messages)
                except OwnedByAnotherUser:
                    summary.skipped[cid] = "the id belongs to another user's conversation"
                else:
                    summary.imported += fresh
                    summary.already += not fresh
                    summary.messages_imported += len(messages) if fresh else 0
                progress.advance(bar)
    summary.seconds = time.monotonic() - started
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="import-history", description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path, help="JSON Lines (.jsonl) or CSV (.csv) file of past messages")
    args = parser.parse_args(argv)
    if not args.file.is_file():
        parser.error(f"{args.file}: no such file")
    settings = load_settings(MongoSettings)
    console = Console(stderr=True)
    summary = asyncio.run(run(args.file, settings, console))
    print("\n".join(summary.lines()))
    return 1 if summary.bad_rows or summary.skipped else 0


if __name__ == "__main__":
    sys.exit(main())
