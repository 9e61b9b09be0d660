"""The usability report as one HTML page with its charts, drawn by matplotlib and embedded as PNG.

One self-contained file (no scripts, no external assets) so it can be mailed or attached to a ticket.
Everything from the data is escaped; the charts are data: URIs.
"""

from __future__ import annotations

import base64
import html
import io
import statistics
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # no display: render to memory

import matplotlib.pyplot as plt  # the backend is chosen above, before pyplot loads
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from analytics.sus import BANDS
from analytics.usability import StudyTask, render_text
from analytics.usability_figures import UsabilityFigures

BLUE, GREEN, RED, GREY = "#2f5d9b", "#2e8540", "#c0392b", "#8a8f98"


def _png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _sus_chart(scores: Sequence[float]) -> str:
    fig, ax = plt.subplots(figsize=(6, 2.8))
    for (_, lower), upper, shade in zip(
        BANDS, [50.0, 70.0, 100.0], ["#f6d5d1", "#fbeec2", "#d5ecd9"], strict=True
    ):
        ax.axvspan(lower, upper, color=shade, zorder=0)
    ax.hist(scores, bins=range(0, 105, 5), color=BLUE, edgecolor="white", zorder=2)
    if scores:
        ax.axvline(statistics.fmean(scores), color="black", linestyle="--", label="mean", zorder=3)
        ax.legend(loc="upper left")
    ax.set(
        xlim=(0, 100), xlabel="SUS score (shaded: not acceptable / marginal / acceptable)", ylabel="sessions"
    )
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    return _png(fig)


def _tasks_chart(figures: UsabilityFigures, titles: dict[str, str]) -> str:
    tasks = figures.tasks
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 0.6 * max(len(tasks), 2) + 1.2), sharey=True)
    names = [titles.get(t.task_id, t.task_id) for t in tasks]
    rows = list(range(len(tasks)))
    left.barh(rows, [t.succeeded for t in tasks], color=GREEN, label="succeeded")
    left.barh(
        rows, [t.abandoned for t in tasks], left=[t.succeeded for t in tasks], color=RED, label="abandoned"
    )
    left.barh(
        rows,
        [t.unfinished for t in tasks],
        left=[t.succeeded + t.abandoned for t in tasks],
        color=GREY,
        label="unfinished",
    )
    left.set_yticks(rows, names)
    left.invert_yaxis()
    left.set_xlabel("attempts")
    left.legend(loc="lower right", fontsize="small")
    for row, task in zip(rows, tasks, strict=True):
        right.scatter(task.success_seconds, [row] * len(task.success_seconds), color=GREEN, zorder=3)
        right.scatter(task.abandoned_seconds, [row] * len(task.abandoned_seconds), color=RED, marker="x")
        if task.success_seconds:
            right.plot([statistics.median(task.success_seconds)] * 2, [row - 0.3, row + 0.3], color="black")
    right.set_xlabel("time on task, s (dots: succeeded, x: abandoned, bar: median)")
    right.set_xlim(left=0)
    return _png(fig)


def _counts_chart(counts: dict[str, int], color: str, xlabel: str) -> str:
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    fig, ax = plt.subplots(figsize=(6, 0.4 * max(len(ranked), 2) + 0.8))
    ax.barh([name for name, _ in ranked], [n for _, n in ranked], color=color)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return _png(fig)


def _img(png: str, alt: str) -> str:
    return f'<figure><img src="data:image/png;base64,{png}" alt="{html.escape(alt)}"><figcaption>{html.escape(alt)}</figcaption></figure>'


def pct(value: float) -> str:
    return f"{value * 100:.0f} %"


def _tile(label: str, value: str, note: str) -> str:
    return (
        f'<div class="tile"><div class="value">{html.escape(value)}</div>'
        f'<div class="label">{html.escape(label)}</div><div class="note">{html.escape(note)}</div></div>'
    )


STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1000px;color:#1d2330;padding:0 1rem}
h1{font-size:1.5rem;margin-bottom:.2rem}.period{color:#566}.tiles{display:grid;
grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:.8rem;margin:1.2rem 0}
.tile{border:1px solid #d9dde5;border-radius:8px;padding:.7rem}.value{font-size:1.6rem;font-weight:600}
.label{font-weight:600}.note{color:#566;font-size:.85rem}figure{margin:1rem 0}img{max-width:100%}
figcaption{color:#566;font-size:.85rem}pre{background:#f4f5f8;padding:1rem;overflow:auto;font-size:.85rem}
"""


def render_html(figures: UsabilityFigures, tasks: list[StudyTask], period: str) -> str:
    """The whole page: headline figures, charts, and the text report (with the definitions) below."""
    titles = {t.task_id: t.title.get("en", t.task_id) for t in tasks}
    tiles = [
        _tile("SUS", f"{figures.sus_mean:.1f}", f"mean of {len(figures.sus_scores)} questionnaires (0-100)"),
        _tile("Task completion", pct(figures.completion_rate), f"of {len(figures.attempts)} attempts"),
        _tile(
            "Time on task",
            f"{statistics.median(figures.success_seconds):.0f} s" if figures.success_seconds else "-",
            "median, succeeded attempts",
        ),
        _tile(
            "Thumbs up",
            pct(figures.thumbs_ratio),
            f"of {figures.thumbs_up + figures.thumbs_down} rated answers",
        ),
        _tile("CSAT", pct(figures.csat), f"scored 4-5, of {len(figures.csat_scores)} conversations"),
        _tile("Hand-off rate", pct(figures.handoff_rate), f"asked for a person, of {figures.turns} turns"),
    ]
    charts = [
        _img(_sus_chart(figures.sus_scores), "SUS score distribution"),
        _img(_tasks_chart(figures, titles), "Task outcomes and time on task"),
        _img(_counts_chart(figures.intents, BLUE, "turns"), "Top intents"),
        _img(
            _counts_chart(figures.thumbs_down_by_intent, RED, "thumbs down"), "Intents with most thumbs down"
        ),
        _img(_counts_chart(figures.writers, GREY, "answers"), "Answers by writer"),
    ]
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Usability study report</title>'
        f"<style>{STYLE}</style></head><body><h1>Usability study report</h1>"
        f'<p class="period">{html.escape(period)}; {len(figures.participants)} participants,'
        f" {figures.sessions} sessions</p>"
        f'<div class="tiles">{"".join(tiles)}</div>{"".join(charts)}'
        f"<h2>Figures and definitions</h2><pre>{html.escape(render_text(figures, tasks, period))}</pre>"
        f"<pre>{html.escape(_definitions())}</pre></body></html>\n"
    )


def _definitions() -> str:
    from analytics import usability_figures

    doc = usability_figures.__doc__ or ""
    return doc[doc.index("Definitions") :].strip()
