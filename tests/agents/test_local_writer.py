"""The deterministic local writer: grounded in the input's tasks, in the input's language, safe markdown."""

from __future__ import annotations

import datetime
import re
from collections.abc import Sequence

from assist.v1 import common_pb2, nlg_pb2
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.nlg import phrases
from agents.nlg.local_writer import LocalWriter, escape_markdown, safe_url

EN, PT = common_pb2.LANGUAGE_EN, common_pb2.LANGUAGE_PT_BR
TODO, DOING = common_pb2.TASK_STATUS_TODO, common_pb2.TASK_STATUS_IN_PROGRESS
BLOCKED, DONE = common_pb2.TASK_STATUS_BLOCKED, common_pb2.TASK_STATUS_DONE
TODAY = "2026-11-25"
writer = LocalWriter()


def task(
    task_id: str,
    title: str,
    status: common_pb2.TaskStatus.ValueType = TODO,
    due: str = "",
    *people: str,
    url: str = "",
    priority: str = "",
    description: str = "",
    blocked_by_task_ids: Sequence[str] = (),
) -> common_pb2.Task:
    return common_pb2.Task(
        task_id=task_id,
        title=title,
        status=status,
        due_date=due,
        assignees=[common_pb2.Person(user_id=name.lower(), display_name=name) for name in people],
        url=url,
        priority=priority,
        description=description,
        blocked_by_task_ids=blocked_by_task_ids,
    )


def answer(
    intent: common_pb2.Intent.ValueType,
    tasks: list[common_pb2.Task],
    language: common_pb2.Language.ValueType = EN,
    *,
    entities: Sequence[common_pb2.Entity] = (),
    focus_task_id: str = "",
    tasks_unavailable: bool = False,
) -> str:
    inp = nlg_pb2.GenerationInput(
        intent=intent,
        language=language,
        tasks=tasks,
        today=TODAY,
        entities=entities,
        focus_task_id=focus_task_id,
        tasks_unavailable=tasks_unavailable,
    )
    return writer.write(inp)


BOARD = [
    task("T-1", "Launch checklist", DOING, "2026-11-30", "Ana", url="https://tasks.example/t/1"),
    task("T-2", "Budget review", TODO, "2026-11-22", "Bruno", "Carla"),
    task("T-3", "Old report", DONE, "2026-11-10", "Ana"),
    task("T-4", "Logo refresh", TODO, "2026-12-20"),
    task("T-5", "Undated idea", TODO),
    task("T-6", "Tax forms", BLOCKED, "2026-11-24", "Dani"),
]


def test_overdue_answer_lists_only_late_unfinished_tasks_with_day_counts() -> None:
    text = answer(common_pb2.INTENT_TASKS_OVERDUE, BOARD)
    assert "Budget review" in text and "3 days late" in text
    assert "Tax forms" in text and "1 day late" in text
    for absent in ("Launch checklist", "Old report", "Logo refresh", "Undated idea"):
        assert absent not in text
    assert text.index("Budget review") < text.index("Tax forms")  # most overdue first


def test_overdue_answer_in_portuguese_counts_dias_de_atraso() -> None:
    text = answer(common_pb2.INTENT_TASKS_OVERDUE, BOARD, PT)
    assert "3 dias de atraso" in text and "1 dia de atraso" in text and "atrasadas" in text


def test_no_overdue_tasks_is_said_plainly() -> None:
    assert answer(common_pb2.INTENT_TASKS_OVERDUE, [BOARD[0]]) == "You have no overdue tasks."


def test_due_answer_defaults_to_the_next_seven_days_soonest_first() -> None:
    extra = task("T-7", "Vendor call", TODO, "2026-11-26")
    text = answer(common_pb2.INTENT_TASKS_DUE, [*BOARD, extra])
    assert "Vendor call" in text and "Nov 26 (tomorrow)" in text
    assert "Launch checklist" in text and "Nov 30 (in 5 days)" in text
    assert text.index("Vendor call") < text.index("Launch checklist")
    for absent in ("Budget review", "Old report", "Logo refresh", "Undated idea", "Tax forms"):
        assert absent not in text


def test_due_answer_uses_the_date_entity_as_its_end() -> None:
    entities = [common_pb2.Entity(kind="date", text="até dia 20", value="2026-12-20")]
    text = answer(common_pb2.INTENT_TASKS_DUE, BOARD, PT, entities=entities)
    assert "Logo refresh" in text and "20 de dez." in text and "em 25 dias" in text
    assert "Nothing" not in text


def test_answers_are_in_the_input_language() -> None:
    for intent in (common_pb2.INTENT_TASKS_OVERDUE, common_pb2.INTENT_GREETING, common_pb2.INTENT_HELP):
        english, portuguese = answer(intent, BOARD, EN), answer(intent, BOARD, PT)
        assert re.search(r"\b(you|your|task|tasks|late|help)\b", english, re.I), english
        assert re.search(r"\b(você|tarefa|tarefas|atrasadas|suas|posso)\b", portuguese, re.I), portuguese
        assert not re.search(r"\b(você|tarefa)\b", english)
        assert not re.search(r"\b(you|your)\b", portuguese)


def test_status_of_the_focus_task_with_readable_dates() -> None:
    en = answer(common_pb2.INTENT_TASK_STATUS, BOARD, focus_task_id="T-1")
    assert (
        en == "**[Launch checklist](https://tasks.example/t/1)** is **in progress**, due Nov 30 (in 5 days)."
    )
    pt = answer(common_pb2.INTENT_TASK_STATUS, BOARD, PT, focus_task_id="T-1")
    assert "está **em andamento**" in pt and "30 de nov. (em 5 dias)" in pt


def test_status_by_title_reference_and_ambiguity() -> None:
    ref = [common_pb2.Entity(kind="task_ref", text="the budget review")]
    assert "Budget review" in answer(common_pb2.INTENT_TASK_STATUS, BOARD, entities=ref)
    text = answer(common_pb2.INTENT_TASK_STATUS, BOARD[:2])
    assert text.startswith("I found several tasks") and "Launch checklist" in text and "Budget review" in text


def test_reference_matching_no_task_says_so() -> None:
    ref = [common_pb2.Entity(kind="task_ref", text="Quarterly *plan*")]
    text = answer(common_pb2.INTENT_TASK_STATUS, BOARD, entities=ref)
    assert text == "I couldn't find a task matching “Quarterly \\*plan\\*”."


def test_summary_gives_facts_and_the_first_sentence_of_the_description() -> None:
    focus = task("T-9", "Migrate billing", DOING, "2026-11-26", "Ana", "Bruno", priority="high",
                 description="Move invoices to the new provider. Then retire the old one.")  # fmt: skip
    text = answer(common_pb2.INTENT_SUMMARIZE_TASK, [focus], PT, focus_task_id="T-9")
    assert "Migrate billing" in text and "em andamento" in text and "26 de nov. (amanhã)" in text
    assert "Ana e Bruno" in text and "alta" in text
    assert "Move invoices to the new provider." in text and "retire" not in text


def test_assignee_answer_names_people_or_nobody() -> None:
    assert "Bruno and Carla" in answer(common_pb2.INTENT_TASK_ASSIGNEE, BOARD, focus_task_id="T-2")
    assert "Nobody is assigned" in answer(common_pb2.INTENT_TASK_ASSIGNEE, BOARD, focus_task_id="T-4")


def test_blockers_answer_names_each_blocker_with_status_and_assignees() -> None:
    focus = task("T-10", "Release", BLOCKED, "", blocked_by_task_ids=["T-2", "T-6", "T-404"])
    text = answer(common_pb2.INTENT_TASK_BLOCKERS, [focus, BOARD[1], BOARD[5]], focus_task_id="T-10")
    assert "Release** is blocked by" in text
    assert "Budget review**: not started, assigned to Bruno and Carla" in text
    assert "Tax forms**: blocked, assigned to Dani" in text
    assert "1 more task I can't see" in text


def test_tasks_unavailable_is_said_and_never_claims_no_tasks() -> None:
    for intent in (
        common_pb2.INTENT_TASKS_OVERDUE,
        common_pb2.INTENT_TASKS_DUE,
        common_pb2.INTENT_TASK_STATUS,
    ):
        en = answer(intent, [], tasks_unavailable=True)
        pt = answer(intent, [], PT, tasks_unavailable=True)
        assert "couldn't fetch your task information" in en and "no overdue" not in en
        assert "Não consegui buscar" in pt and "não tem tarefas" not in pt


def test_fixed_answers_for_conversation_intents() -> None:
    assert "support" in answer(common_pb2.INTENT_HUMAN_HANDOFF, [])
    assert "suporte" in answer(common_pb2.INTENT_HUMAN_HANDOFF, [], PT)
    assert "only answer questions about your tasks" in answer(common_pb2.INTENT_OUT_OF_SCOPE, [])
    assert "Thanks" in answer(common_pb2.INTENT_FEEDBACK, [])
    assert "rephrase" in answer(common_pb2.INTENT_UNSPECIFIED, [])


def test_xss_titles_are_escaped_and_unsafe_urls_are_not_linked() -> None:
    tasks = [
        task("X-1", "<img src=x onerror=alert(1)>", TODO, "2026-11-20", url="javascript:alert(1)"),
        task("X-2", "[x](javascript:alert(1))", TODO, "2026-11-21", url="//evil.example/x"),
        task("X-3", "Safe", TODO, "2026-11-22", url="/tasks/3"),
    ]
    text = answer(common_pb2.INTENT_TASKS_OVERDUE, tasks)
    assert "<img" not in text and "&lt;img src=x onerror=alert\\(1\\)&gt;" in text
    assert "](javascript:" not in text and "\\[x\\]\\(javascript:alert\\(1\\)\\)" in text
    assert "(//evil" not in text
    assert "**[Safe](/tasks/3)**" in text


def test_escape_and_url_rules() -> None:
    assert (
        escape_markdown("**bold** _x_ `code` a|b\nnext") == "\\*\\*bold\\*\\* \\_x\\_ \\`code\\` a\\|b next"
    )
    assert safe_url("https://a.example/t?(1)") == "https://a.example/t?%281%29"
    assert safe_url("HTTP://a.example") == "HTTP://a.example"
    for bad in ("javascript:alert(1)", "data:text/html,x", "//evil", "/\\evil", "https://a b", "ftp://x"):
        assert safe_url(bad) is None, bad


def test_phrase_tables_have_the_same_keys_in_both_languages() -> None:
    assert phrases.PHRASES[phrases.EN].keys() == phrases.PHRASES[phrases.PT].keys()
    assert phrases.STATUS_NAMES[phrases.EN].keys() == phrases.STATUS_NAMES[phrases.PT].keys()


TITLES = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=8).map(
    lambda s: "Zq" + s
)
DATES = st.dates(min_value=datetime.date(2026, 10, 1), max_value=datetime.date(2027, 1, 31))


@st.composite
def generation_inputs(draw: st.DrawFn) -> nlg_pb2.GenerationInput:
    titles = draw(st.lists(TITLES, max_size=6, unique=True))
    tasks = []
    for i, title in enumerate(titles):
        ids = draw(st.lists(st.sampled_from([f"T{j}" for j in range(8)]), max_size=3))
        due = draw(st.one_of(st.just(""), DATES.map(lambda d: d.isoformat())))
        status = draw(st.sampled_from(list(common_pb2.TaskStatus.values())))
        tasks.append(task(f"T{i}", title, status, due, blocked_by_task_ids=ids))
    decoy = draw(TITLES)
    entities = draw(st.lists(st.sampled_from([
        common_pb2.Entity(kind="task_ref", text=decoy),
        common_pb2.Entity(kind="task_ref", text="this task", value="T1"),
        common_pb2.Entity(kind="date", text="x", value="2026-12-10"),
    ]), max_size=2))  # fmt: skip
    return nlg_pb2.GenerationInput(
        intent=draw(st.sampled_from(list(common_pb2.Intent.values()))),
        language=draw(st.sampled_from([EN, PT, common_pb2.LANGUAGE_UNSPECIFIED])),
        tasks=tasks,
        entities=entities,
        focus_task_id=draw(st.sampled_from(["", "T0", "T1", "T7"])),
        tasks_unavailable=draw(st.booleans()),
        today=TODAY,
    )


@settings(max_examples=200, database=None, deadline=None)
@given(generation_inputs())
def test_answers_name_only_input_tasks_and_stream_the_same_text(inp: nlg_pb2.GenerationInput) -> None:
    text = writer.write(inp)
    titles = {t.title for t in inp.tasks}
    refs = {e.text for e in inp.entities}
    for mentioned in re.findall(r"Zq[A-Za-z]*", text):
        assert mentioned in titles or mentioned in refs, (mentioned, text)
    assert "".join(writer.chunks(inp)) == text
    assert writer.write(inp) == text
    assert text.strip()
