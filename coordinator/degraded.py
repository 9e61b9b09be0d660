"""What the coordinator says when an agent cannot: answers that need no agent at all."""

from __future__ import annotations

from assist.v1 import common_pb2

_EN = common_pb2.LANGUAGE_EN
_PT = common_pb2.LANGUAGE_PT_BR

_TEXT: dict[str, dict[int, str]] = {
    "blocked": {
        _EN: "I can't help with that request. Ask me about your tasks: what is due, what is late, or a task's status.",
        _PT: "Não posso ajudar com esse pedido. Pergunte sobre suas tarefas: o que vence, o que está atrasado "
        "ou o status de uma tarefa.",
    },
    "no_writer": {
        _EN: "I can't write a full answer right now. Here are your open tasks:",
        _PT: "Não consigo escrever uma resposta completa agora. Estas são suas tarefas em aberto:",
    },
    "no_writer_no_tasks": {
        _EN: "I can't answer right now. Please try again in a moment.",
        _PT: "Não consigo responder agora. Tente novamente em instantes.",
    },
    "interrupted": {
        _EN: "\n\n_(The answer was interrupted. Ask again for the rest.)_",
        _PT: "\n\n_(A resposta foi interrompida. Pergunte de novo para ver o restante.)_",
    },
    "in_progress": {
        _EN: "This message is still being answered. Try again in a moment.",
        _PT: "Esta mensagem ainda está sendo respondida. Tente novamente em instantes.",
    },
}


def phrase(key: str, language: int) -> str:
    """A fixed sentence in the user's language (English when unknown)."""
    table = _TEXT[key]
    return table.get(language, table[_EN])


def fallback_answer(language: int, tasks: list[common_pb2.Task]) -> str:
    """The answer when no writer is available: the open task titles with their due dates, or an apology."""
    open_tasks = [t for t in tasks if t.status != common_pb2.TASK_STATUS_DONE][:5]
    if not open_tasks:
        return phrase("no_writer_no_tasks", language)
    lines = [phrase("no_writer", language)]
    for task in open_tasks:
        due = f" ({task.due_date})" if task.due_date else ""
        lines.append(f"- {escape_markdown(task.title)}{due}")
    return "\n".join(lines)


def escape_markdown(text: str) -> str:
    """Make user data literal in markdown (titles may contain `*`, `[`, `<`...)."""
    out = []
    for char in text:
        if char in "\\`*_[]<>|~":
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)
