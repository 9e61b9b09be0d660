"""`import-history` against a real MongoDB: the sample files, bad rows, redaction, idempotence, resuming."""

from __future__ import annotations

import pytest
from rich.console import Console

from history_import.__main__ import Summary, group, run
from history_import.store import import_conversation, turn_documents
from mesh.config import MongoSettings
from mesh.storage.mongo import Database
from mesh.storage.turns import ConversationStore, TurnStore
from tests.local_stack import ROOT, Stack, mongo_uri_for

SAMPLES = ROOT / "samples"


def _settings(stack: Stack, db: Database) -> MongoSettings:
    return MongoSettings(mongo_uri=mongo_uri_for(stack, db.name), mongo_timeout_ms=5000)


def test_the_bad_sample_reports_each_bad_row_with_its_line_and_keeps_only_whole_conversations() -> None:
    summary = Summary()
    conversations = group(SAMPLES / "history-bad.jsonl", summary)
    assert list(conversations) == ["past-ok-1"]
    lines = {b.line: b.reason for b in summary.bad_rows}
    assert set(lines) == {4, 5, 6, 7, 8, 9, 12}
    assert "robot" in lines[4] and "RFC 3339" in lines[5] and "empty" in lines[6] and "JSON" in lines[9]
    assert summary.skipped["past-half-1"] == "line 4 is bad", "its good line 3 is not imported alone"
    assert "more than one user_id" in summary.skipped["past-two-users"]


def test_csv_and_json_lines_read_the_same_columns() -> None:
    summary = Summary()
    conversations = group(SAMPLES / "history-good.csv", summary)
    assert not summary.bad_rows
    assert [m.task_id for m in conversations["past-csv-1"]] == ["T-109", "T-109"]


def test_personal_data_is_redacted_by_the_guards_rules() -> None:
    summary = Summary()
    conversations = group(SAMPLES / "history-good.jsonl", summary)
    _, turns = turn_documents(conversations["past-ana-1"])
    assert "[email]" in turns[1]["text"] and "[phone]" in turns[1]["text"]
    assert "example.com" not in turns[1]["text"]
    _, bruno = turn_documents(conversations["past-bruno-1"])
    assert "[cpf]" in bruno[0]["text"]


@pytest.mark.stack
async def test_an_import_shows_in_the_users_history_and_a_second_run_imports_nothing(
    stack: Stack, db: Database
) -> None:
    first = await run(SAMPLES / "history-good.jsonl", _settings(stack, db), Console(quiet=True))
    assert (first.imported, first.already, first.messages_imported) == (3, 0, 8)
    messages = await TurnStore(db).list_messages("ana", "past-ana-1", 50)
    assert [m.text for m in messages][:2] == [
        "O que está atrasado?",
        "Revisar contrato do fornecedor venceu ontem.",
    ]
    assert len(messages) == 4
    assert await ConversationStore(db).history("ana", "past-ana-1", 5) is not None
    assert await TurnStore(db).list_messages("bruno", "past-ana-1", 50) == []
    pending = await db.turns.count_documents({"imported": True, "outbox_pending": True})
    assert pending == 4, "one interaction event per imported turn, marked imported"
    second = await run(SAMPLES / "history-good.jsonl", _settings(stack, db), Console(quiet=True))
    assert (second.imported, second.already) == (0, 3)
    assert await db.turns.count_documents({}) == 4


@pytest.mark.stack
async def test_an_interrupted_conversation_is_invisible_until_the_next_run_completes_it(db: Database) -> None:
    summary = Summary()
    messages = group(SAMPLES / "history-good.jsonl", summary)["past-ana-1"]
    _, turns = turn_documents(messages)
    await db.turns.insert_one(turns[0])  # the run died after its first turn
    assert await ConversationStore(db).get_conversation("ana", "past-ana-1") is None
    assert await import_conversation(db, messages) is True
    assert len(await TurnStore(db).list_messages("ana", "past-ana-1", 50)) == 4
