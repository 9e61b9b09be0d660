"""`python -m analytics.usability report [--html out.html]`: the usability study's report.

Reads the analytics facts (what the analytics consumer stored from the Kafka events, `analytics_events`),
never the live conversation tables: the report describes what was announced as events, the same source
the dashboards' figures come from, and it can run against a copy of the analytics store. MONGO_URI names
the database, as for every process.

Facts are read one day and one kind at a time (`{day, kind}`, served by the `day_kind` index) for the days
from `--since` to `--until` (UTC; default the last 14 days).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from analytics.consumer import FACTS
from analytics.sus import BANDS
from analytics.usability_figures import Fact, UsabilityFigures, compute_figures
from mesh.config import MongoSettings, load_settings
from mesh.storage.mongo import Database, connect, default_database, unavailable_as_store_error

TASKS_FILE = Path(__file__).resolve().parent.parent / "study" / "tasks.json"
KINDS = ("study", "interaction", "feedback", "satisfaction")


@dataclass(frozen=True)
class StudyTask:
    task_id: str
    title: dict[str, str]


def load_tasks(path: Path = TASKS_FILE) -> list[StudyTask]:
    """The study's tasks, in the order the widget offers them."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return [StudyTask(t["id"], dict(t["title"])) for t in data["tasks"]]


def days_between(since: date, until: date) -> list[str]:
    return [(since + timedelta(days=n)).isoformat() for n in range((until - since).days + 1)]


@unavailable_as_store_error
async def read_facts(db: Database, days: list[str]) -> list[Fact]:
    """Every fact of the report's kinds on these days."""
    facts: list[Fact] = []
    for day in days:
        for kind in KINDS:
            facts.extend([f async for f in db[FACTS].find({"day": day, "kind": kind})])
    return facts


def _seconds(values: list[float]) -> str:
    if not values:
        return "-"
    return (
        f"median {statistics.median(values):.1f} s, mean {statistics.fmean(values):.1f} s (n={len(values)})"
    )


def _pct(value: float) -> str:
    return f"{value * 100:.1f} %"


def render_text(figures: UsabilityFigures, tasks: list[StudyTask], period: str) -> str:
    """The report as plain text (what `report` prints)."""
    titles = {t.task_id: t.title.get("en", t.task_id) for t in tasks}
    s = figures.sus_scores
    lines = [
        f"Usability study report ({period})",
        f"participants: {len(figures.participants)}  sessions: {figures.sessions}",
        "",
        "System Usability Scale (0-100; standard scoring; about 68 is average)",
        f"  questionnaires: {len(s)}",
    ]
    if s:
        lines += [
            f"  mean {figures.sus_mean:.1f}  median {statistics.median(s):.1f}  min {min(s):.1f}  max {max(s):.1f}"
            + (f"  sd {statistics.stdev(s):.1f}" if len(s) > 1 else ""),
            "  scores: " + ", ".join(f"{x:g}" for x in s),
            "  bands: " + ", ".join(f"{name} {figures.sus_bands.get(name, 0)}" for name, _ in BANDS),
        ]
    lines += [
        "",
        "Tasks (completion = succeeded / attempts; time on task over succeeded attempts)",
        f"  overall: {_pct(figures.completion_rate)} of {len(figures.attempts)} attempts;"
        f" time on task {_seconds(figures.success_seconds)}",
    ]
    for t in figures.tasks:
        lines.append(
            f"  {t.task_id} ({titles.get(t.task_id, '?')}): {t.succeeded}/{t.attempts} succeeded"
            f" ({_pct(t.completion_rate)}), {t.abandoned} abandoned, {t.unfinished} unfinished;"
            f" {_seconds(t.success_seconds)}"
        )
    rated = figures.thumbs_up + figures.thumbs_down
    lines += [
        "",
        "Answers",
        f"  turns: {figures.turns}",
        f"  thumbs ratio: {_pct(figures.thumbs_ratio)} up ({figures.thumbs_up} up, {figures.thumbs_down} down,"
        f" {rated} rated)",
        f"  CSAT: {_pct(figures.csat)} scored 4-5 of {len(figures.csat_scores)} rated conversations"
        + (f" (mean {statistics.fmean(figures.csat_scores):.2f})" if figures.csat_scores else ""),
        f"  hand-off rate: {_pct(figures.handoff_rate)} ({figures.handoff_turns} turns asked for a person:"
        " intent human_handoff)",
        f"  degraded answers: {_pct(figures.degraded_rate)} ({figures.degraded_turns} turns; not a hand-off)",
        "  top intents: " + _counts(figures.intents),
        "  thumbs down by intent: " + _counts(figures.thumbs_down_by_intent),
        "  answers by writer: " + _counts(figures.writers),
    ]
    return "\n".join(lines) + "\n"


def _counts(counter: dict[str, int]) -> str:
    ranked = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(f"{name} {n}" for name, n in ranked) or "-"


async def build_report(
    mongo_uri: str, since: date, until: date, *, all_users: bool = False, timeout_ms: int = 5000
) -> UsabilityFigures:
    """Read the facts of the period from the analytics store and compute the figures."""
    client = connect(mongo_uri, timeout_ms)
    try:
        facts = await read_facts(default_database(client), days_between(since, until))
    finally:
        await client.close()
    return compute_figures(facts, task_order=[t.task_id for t in load_tasks()], all_users=all_users)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m analytics.usability", description=__doc__.splitlines()[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    report = sub.add_parser("report", help="print the study's figures (and write an HTML page with --html)")
    today = datetime.now(UTC).date()
    report.add_argument("--since", type=date.fromisoformat, default=today - timedelta(days=13))
    report.add_argument("--until", type=date.fromisoformat, default=today)
    report.add_argument("--html", type=Path, help="also write the report with its charts to this file")
    report.add_argument(
        "--all-users", action="store_true", help="answers' figures of every user, not only the participants"
    )
    args = parser.parse_args(argv)
    settings = load_settings(MongoSettings)
    figures = asyncio.run(build_report(settings.mongo_uri, args.since, args.until, all_users=args.all_users))
    tasks = load_tasks()
    period = f"{args.since.isoformat()} to {args.until.isoformat()}, UTC"
    sys.stdout.write(render_text(figures, tasks, period))
    if args.html:
        from analytics.usability_html import render_html  # matplotlib is imported only when asked for

        args.html.write_text(render_html(figures, tasks, period), encoding="utf-8")
        sys.stdout.write(f"wrote {args.html}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
