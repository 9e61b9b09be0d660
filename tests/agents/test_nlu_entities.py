"""Rule-based entities: dates resolved against a fixed `today`, task references, mentions."""

from __future__ import annotations

import datetime

import pytest

from agents.nlu.classifier import load_examples
from agents.nlu.entities import extract_entities

TODAY = datetime.date(2026, 11, 25)  # a Wednesday


def _dates(text: str, today: datetime.date = TODAY) -> list[tuple[str, str]]:
    return [(e.text, e.value) for e in extract_entities(text, today=today) if e.kind == "date"]


def _refs(text: str, page_task_id: str = "") -> list[tuple[str, str]]:
    found = extract_entities(text, today=TODAY, page_task_id=page_task_id)
    return [(e.text, e.value) for e in found if e.kind == "task_ref"]


@pytest.mark.parametrize(
    ("text", "span", "value"),
    [
        ("what's due today?", "today", "2026-11-25"),
        ("o que vence hoje?", "hoje", "2026-11-25"),
        ("o q vence hj?", "hj", "2026-11-25"),
        ("anything due tomorrow?", "tomorrow", "2026-11-26"),
        ("tem entrega amanhã?", "amanhã", "2026-11-26"),
        ("tem entrega amanha?", "amanha", "2026-11-26"),
        ("what's due this week?", "this week", "2026-11-29"),
        ("tem algo vencendo essa semana?", "essa semana", "2026-11-29"),
        ("what's coming up next week", "next week", "2026-12-06"),
        ("meus prazos da semana que vem", "semana que vem", "2026-12-06"),
        ("what do I need to finish by friday?", "friday", "2026-11-27"),
        ("o que eu preciso entregar até sexta?", "sexta", "2026-11-27"),
        ("tenho alguma entrega sexta-feira?", "sexta-feira", "2026-11-27"),
        ("due wednesday", "wednesday", "2026-11-25"),
        ("due next wednesday", "next wednesday", "2026-12-02"),
        ("lista as tarefas que vencem segunda", "segunda", "2026-11-30"),
        ("tarefas com prazo até dia 30", "até dia 30", "2026-11-30"),
        ("tarefas com prazo até dia 3", "até dia 3", "2026-12-03"),
        ("quais os prazos até 30/11?", "30/11", "2026-11-30"),
        ("entrega em 05/01", "05/01", "2027-01-05"),
        ("list tasks due before 2026-12-01", "2026-12-01", "2026-12-01"),
        ("do I have anything due Nov 30?", "Nov 30", "2026-11-30"),
        ("vence em 30 de nov.", "30 de nov.", "2026-11-30"),
        ("tasks with a deadline in the next 3 days", "in the next 3 days", "2026-11-28"),
        ("o que vence nos próximos 3 dias", "nos próximos 3 dias", "2026-11-28"),
        ("what deadlines do I have this month", "this month", "2026-11-30"),
        ("what was due yesterday", "yesterday", "2026-11-24"),
    ],
)
def test_dates_resolve_relative_to_the_given_today(text: str, span: str, value: str) -> None:
    assert _dates(text) == [(span, value)]


def test_this_week_on_a_sunday_ends_that_same_day() -> None:
    assert _dates("due this week", today=datetime.date(2026, 11, 29)) == [("this week", "2026-11-29")]


def test_this_task_resolves_to_the_page_task() -> None:
    assert _refs("what's the status of this task?", page_task_id="T-77") == [("this task", "T-77")]
    assert _refs("resume essa tarefa", page_task_id="T-77") == [("essa tarefa", "T-77")]
    assert _refs("como anda esta tarefa", page_task_id="T-77") == [("esta tarefa", "T-77")]


def test_this_task_off_a_task_page_stays_unresolved() -> None:
    assert _refs("summarize this task") == [("this task", "")]


def test_quoted_titles_and_ids_are_task_refs_with_their_raw_text() -> None:
    assert _refs("is the 'Launch checklist' task done?") == [("Launch checklist", "")]
    assert _refs("resuma a tarefa “Reunião de segunda”") == [("Reunião de segunda", "")]
    assert _refs("status of task T-123") == [("T-123", "T-123")]
    assert _refs("status da tarefa #42") == [("#42", "42")]


def test_date_words_inside_a_quoted_title_are_not_dates() -> None:
    text = 'any progress on the "Friday deploy" task?'
    assert _refs(text) == [("Friday deploy", "")]
    assert _dates(text) == []


def test_apostrophes_are_not_taken_for_quotes() -> None:
    assert _refs("what's late? it's been a while") == []


def test_task_ids_and_iso_dates_do_not_mix() -> None:
    found = extract_entities("task T-1234 due 2026-11-30", today=TODAY)
    assert [(e.kind, e.text, e.value) for e in found] == [
        ("task_ref", "T-1234", "T-1234"),
        ("date", "2026-11-30", "2026-11-30"),
    ]


def test_impossible_dates_are_ignored() -> None:
    assert _dates("due 2026-02-30") == []
    assert _dates("due 31/02") == []


def test_mentions_are_people() -> None:
    found = extract_entities("is @ana.silva on this?", today=TODAY)
    assert [(e.kind, e.value) for e in found] == [("person", "ana.silva")]


def test_every_labelled_date_in_the_data_set_is_found() -> None:
    missed = []
    for example in load_examples():
        found = {e.text for e in extract_entities(example.text, today=TODAY) if e.kind == "date"}
        for entity in example.entities:
            if entity.kind == "date" and not any(f in entity.text or entity.text in f for f in found):
                missed.append((example.text, entity.text))
    assert missed == []
