"""The deterministic local writer: answers composed from the task facts alone, with no model.

It is what users get when there is no Gemini key or Gemini fails, so it must never invent anything: every
task it names comes from `inp.tasks`, every date from those tasks and `inp.today`. Titles, names and
descriptions are user data and may contain markdown or HTML; they are escaped before they reach the
answer, and a title is linked only to an http(s) or site-relative URL.
"""

from __future__ import annotations

import datetime
import re
import unicodedata
from collections.abc import Callable, Iterator, Sequence

from assist.v1 import common_pb2, nlg_pb2

from agents.nlg import phrases
from mesh.intents import TASK_QUESTIONS

Task = common_pb2.Task
DONE = common_pb2.TASK_STATUS_DONE
DEFAULT_DUE_WINDOW = datetime.timedelta(days=7)

FIXED_ANSWERS = {
    common_pb2.INTENT_GREETING: "greeting",
    common_pb2.INTENT_HELP: "help",
    common_pb2.INTENT_FEEDBACK: "feedback",
    common_pb2.INTENT_HUMAN_HANDOFF: "handoff",
    common_pb2.INTENT_OUT_OF_SCOPE: "out_of_scope",
}
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#!|~])")
_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_SAFE_URL = re.compile(r"^(?:https?://|/(?![/\\]))", re.IGNORECASE)
_URL_FORBIDDEN = re.compile(r"[\s<>\"'\\`\x00-\x1f\x7f]")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s|\n")
# Words that say "a task" without saying which one; what remains of a reference must appear in the title.
_REF_STOPWORDS = frozenset(
    (
        "the", "a", "an", "this", "that", "one", "task", "ticket", "card", "o", "os", "as", "da", "do", "de",
        "dos", "das", "esta", "essa", "este", "esse", "desta", "dessa", "deste", "desse", "nesta", "nessa",
        "tarefa"
    )
)  # fmt: skip
_CHUNK = re.compile(r"\S+\s*|\s+")


def escape_markdown(text: str) -> str:
    """User text shown literally: markdown punctuation backslash-escaped, HTML characters as entities."""
    text = "".join(" " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch for ch in text)
    text = "".join(_HTML.get(ch, ch) for ch in text)
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text).strip()


def safe_url(url: str) -> str | None:
    """The URL ready for a markdown link, or None unless it is http(s) or site-relative ("/tasks/1")."""
    url = url.strip()
    if not _SAFE_URL.match(url) or _URL_FORBIDDEN.search(url):
        return None
    return url.replace("(", "%28").replace(")", "%29")


def _fold(text: str) -> list[str]:
    decomposed = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return re.findall(r"\w+", plain)


def _parse_date(value: str) -> datetime.date | None:
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        return None


class _Answer:
    """One answer being composed: the input, its language and the helpers that render task facts."""

    def __init__(self, inp: nlg_pb2.GenerationInput) -> None:
        self.inp = inp
        self.lang = phrases.language_key(inp.language)
        # Without `today` lateness cannot be judged; the UTC date is the least surprising stand-in.
        self.today = _parse_date(inp.today) or datetime.datetime.now(datetime.UTC).date()
        self.by_id = {task.task_id: task for task in inp.tasks if task.task_id}

    def say(self, key: str, **values: object) -> str:
        return phrases.say(self.lang, key, **values)

    def title(self, task: Task) -> str:
        text = escape_markdown(task.title) or self.say("untitled")
        url = safe_url(task.url)
        return f"**[{text}]({url})**" if url else f"**{text}**"

    def status(self, task: Task) -> str:
        return phrases.STATUS_NAMES[self.lang].get(task.status, phrases.STATUS_NAMES[self.lang][0])

    def date(self, day: datetime.date) -> str:
        return phrases.short_date(self.lang, day.year, day.month, day.day, self.today.year)

    def due_suffix(self, task: Task) -> str:
        due = _parse_date(task.due_date)
        if due is None:
            return self.say("no_due_suffix")
        relative = phrases.relative_day(self.lang, (due - self.today).days)
        return self.say("due_suffix", date=self.date(due), relative=relative)

    def names(self, task: Task) -> str:
        shown = [escape_markdown(p.display_name or p.user_id) for p in task.assignees]
        return phrases.join_names(self.lang, [name for name in shown if name])

    def targets(self) -> tuple[list[Task], str]:
        """The task(s) the question is about, and the reference text when nothing matched it."""
        refs = [e for e in self.inp.entities if e.kind == "task_ref"]
        for ref in refs:
            if ref.value in self.by_id:
                return [self.by_id[ref.value]], ""
        for ref in refs:
            if ref.value == self.inp.focus_task_id and ref.value:
                continue  # "this task" whose page task is not among the facts: handled below
            words = [w for w in _fold(ref.text) if w not in _REF_STOPWORDS]
            if words:
                found = [t for t in self.inp.tasks if set(words) <= set(_fold(t.title))]
                return found, "" if found else ref.text
        if self.inp.focus_task_id in self.by_id:
            return [self.by_id[self.inp.focus_task_id]], ""
        return list(self.inp.tasks), ""

    def candidates(self, tasks: Sequence[Task], detail: Callable[[Task], str]) -> str:
        lines = [self.say("ambiguous")]
        lines += [self.say("candidate_item", title=self.title(t), detail=detail(t)) for t in _ordered(tasks)]
        return "\n".join(lines)

    def no_match(self, ref: str) -> str:
        return self.say("no_match_ref", ref=escape_markdown(ref)) if ref else self.say("no_match")


def _ordered(tasks: Sequence[Task]) -> list[Task]:
    """Soonest due first (undated last), then by title and id, so the same facts give the same answer."""
    return sorted(tasks, key=lambda t: (_parse_date(t.due_date) or datetime.date.max, t.title, t.task_id))


def _single_task_answer(answer: _Answer, render: Callable[[Task], str], detail: Callable[[Task], str]) -> str:
    tasks, ref = answer.targets()
    if not tasks:
        return answer.no_match(ref)
    if len(tasks) > 1:
        return answer.candidates(tasks, detail)
    return render(tasks[0])


def _status(a: _Answer) -> str:
    def render(task: Task) -> str:
        return a.say("status_one", title=a.title(task), status=a.status(task), due=a.due_suffix(task))

    return _single_task_answer(a, render, lambda t: a.status(t) + a.due_suffix(t))


def _due(a: _Answer) -> str:
    dates = [_parse_date(e.value) for e in a.inp.entities if e.kind == "date"]
    end = next((d for d in dates if d is not None), a.today + DEFAULT_DUE_WINDOW)
    end = max(end, a.today)
    due = [
        t
        for t in a.inp.tasks
        if t.status != DONE and (d := _parse_date(t.due_date)) is not None and a.today <= d <= end
    ]
    if not due:
        return a.say("due_none", end=a.date(end))
    lines = [a.say("due_header", end=a.date(end))]
    for task in _ordered(due):
        day = _parse_date(task.due_date) or a.today
        relative = phrases.relative_day(a.lang, (day - a.today).days)
        lines.append(a.say("due_item", title=a.title(task), date=a.date(day), relative=relative))
    return "\n".join(lines)


def _overdue(a: _Answer) -> str:
    late = [
        t
        for t in a.inp.tasks
        if t.status != DONE and (d := _parse_date(t.due_date)) is not None and d < a.today
    ]
    if not late:
        return a.say("overdue_none")
    header = a.say("overdue_header_one") if len(late) == 1 else a.say("overdue_header", count=len(late))
    lines = [header]
    for task in _ordered(late):
        day = _parse_date(task.due_date) or a.today
        lateness = phrases.days_late(a.lang, (a.today - day).days)
        lines.append(a.say("overdue_item", title=a.title(task), date=a.date(day), late=lateness))
    return "\n".join(lines)


def _summary(a: _Answer) -> str:
    def render(task: Task) -> str:
        due = _parse_date(task.due_date)
        due_text = a.say("no_due")
        if due is not None:
            due_text = f"{a.date(due)} ({phrases.relative_day(a.lang, (due - a.today).days)})"
        lines = [
            a.title(task),
            "",
            f"- {a.say('summary_status')}: {a.status(task)}",
            f"- {a.say('summary_due')}: {due_text}",
            f"- {a.say('summary_assignees')}: {a.names(task) or a.say('nobody')}",
        ]
        if task.priority:
            priority = phrases.PRIORITIES[a.lang].get(task.priority.lower(), task.priority)
            lines.append(f"- {a.say('summary_priority')}: {escape_markdown(priority)}")
        first = _SENTENCE_END.split(task.description.strip(), maxsplit=1)[0][:280]
        if first.strip():
            lines += ["", escape_markdown(first)]
        return "\n".join(lines)

    return _single_task_answer(a, render, a.status)


def _assignee(a: _Answer) -> str:
    def render(task: Task) -> str:
        names = a.names(task)
        if not names:
            return a.say("assignee_none", title=a.title(task))
        return a.say("assignee_one", title=a.title(task), names=names)

    return _single_task_answer(a, render, lambda t: a.names(t) or a.say("nobody"))


def _blockers_of(a: _Answer, task: Task) -> list[str]:
    if not task.blocked_by_task_ids:
        key = "blocked_unrecorded" if task.status == common_pb2.TASK_STATUS_BLOCKED else "blockers_none"
        return [a.say(key, title=a.title(task))]
    lines = [a.say("blockers_header", title=a.title(task))]
    seen = [a.by_id[i] for i in dict.fromkeys(task.blocked_by_task_ids) if i in a.by_id]
    for blocker in _ordered(seen):
        names = a.names(blocker)
        owners = a.say("blocker_owners", names=names) if names else a.say("blocker_unowned")
        lines.append(a.say("blocker_item", title=a.title(blocker), status=a.status(blocker), owners=owners))
    hidden = len(set(task.blocked_by_task_ids)) - len(seen)
    if hidden:
        lines.append(a.say("blockers_hidden_one") if hidden == 1 else a.say("blockers_hidden", count=hidden))
    return lines


def _blockers(a: _Answer) -> str:
    tasks, ref = a.targets()
    if not tasks:
        return a.no_match(ref)
    if len(tasks) > 1:  # no single task asked about: answer for every task that has blockers
        tasks = [t for t in _ordered(tasks) if t.blocked_by_task_ids]
        if not tasks:
            return a.say("blockers_nowhere")
    return "\n\n".join("\n".join(_blockers_of(a, task)) for task in tasks)


COMPOSERS: dict[int, Callable[[_Answer], str]] = {
    common_pb2.INTENT_TASK_STATUS: _status,
    common_pb2.INTENT_TASKS_DUE: _due,
    common_pb2.INTENT_TASKS_OVERDUE: _overdue,
    common_pb2.INTENT_SUMMARIZE_TASK: _summary,
    common_pb2.INTENT_TASK_ASSIGNEE: _assignee,
    common_pb2.INTENT_TASK_BLOCKERS: _blockers,
}


class LocalWriter:
    """Writes markdown answers from a GenerationInput; same input, same output."""

    def write(self, inp: nlg_pb2.GenerationInput) -> str:
        answer = _Answer(inp)
        if inp.intent in TASK_QUESTIONS and inp.tasks_unavailable:
            return answer.say("unavailable")
        if inp.intent in COMPOSERS:
            return COMPOSERS[inp.intent](answer)
        return answer.say(FIXED_ANSWERS.get(inp.intent, "unspecified"))

    def chunks(self, inp: nlg_pb2.GenerationInput) -> Iterator[str]:
        """The answer in word-sized pieces (each word with its trailing space) for streaming."""
        yield from _CHUNK.findall(self.write(inp))
