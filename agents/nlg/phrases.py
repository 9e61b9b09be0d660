"""Every sentence the local writer can say, in English and Brazilian Portuguese, in one place.

Kept apart from the composition logic so a translator (or a reviewer checking tone) reads one file, and so
the two languages cannot drift: both tables must have the same keys (a test checks it). Placeholders are
`str.format` fields; values put into them are already escaped markdown.
"""

from __future__ import annotations

from collections.abc import Sequence

from assist.v1 import common_pb2

EN = "en"
PT = "pt"

PHRASES: dict[str, dict[str, str]] = {
    EN: {
        "unavailable": "I couldn't fetch your task information right now, so I can't answer that at the "
        "moment. Please try again in a few minutes.",
        "status_one": "{title} is **{status}**{due}.",
        "due_suffix": ", due {date} ({relative})",
        "no_due_suffix": " (no due date)",
        "ambiguous": "I found several tasks that could match. Which one do you mean?",
        "no_match_ref": "I couldn't find a task matching “{ref}”.",
        "no_match": "I couldn't find that task among the tasks I can see.",
        "due_header": "Due between today and {end}:",
        "due_none": "Nothing is due between today and {end}.",
        "due_item": "- {title}: {date} ({relative})",
        "overdue_header_one": "You have 1 overdue task:",
        "overdue_header": "You have {count} overdue tasks:",
        "overdue_none": "You have no overdue tasks.",
        "overdue_item": "- {title}: due {date}, {late}",
        "summary_status": "Status",
        "summary_due": "Due",
        "summary_assignees": "Assignees",
        "summary_priority": "Priority",
        "no_due": "no due date",
        "nobody": "nobody yet",
        "assignee_one": "{title} is assigned to {names}.",
        "assignee_none": "Nobody is assigned to {title} yet.",
        "candidate_item": "- {title}: {detail}",
        "blockers_header": "{title} is blocked by:",
        "blocker_item": "- {title}: {status}, {owners}",
        "blocker_owners": "assigned to {names}",
        "blocker_unowned": "unassigned",
        "blockers_hidden_one": "- 1 more task I can't see the details of.",
        "blockers_hidden": "- {count} more tasks I can't see the details of.",
        "blockers_none": "Nothing is blocking {title}.",
        "blocked_unrecorded": "{title} is marked as blocked, but no blocking tasks are recorded.",
        "blockers_nowhere": "I couldn't find anything blocking your tasks.",
        "greeting": "Hi! I can help with your tasks: ask me what's due, what's late, or about a specific task.",
        "help": "Here's what I can help with:\n"
        "- what's due soon (“what's due this week?”)\n"
        "- what's overdue (“what's late?”)\n"
        "- a task's status, summary or assignees (“summarize this task”)\n"
        "- what's blocking a task (“who is blocking me?”)\n\n"
        "If you need a person, ask me and I'll tell you how to reach support.",
        "feedback": "Thanks for the feedback! It helps me get better.",
        "handoff": "I can't pass this conversation to a person myself, and nobody is notified from here. The "
        "site's support team can help: you can reach them from the site's Help page.",
        "out_of_scope": "Sorry, I can't help with that: I only answer questions about your tasks. Try asking "
        "what's due this week, what's late, or for a summary of a task.",
        "unspecified": "I'm not sure I understood. I can tell you what's due, what's late, and the status, "
        "summary, assignees or blockers of a task. Could you rephrase?",
        "untitled": "(untitled task)",
        "and": "and",
    },
    PT: {
        "unavailable": "Não consegui buscar as informações das suas tarefas agora, então não consigo "
        "responder isso no momento. Tente de novo daqui a alguns minutos.",
        "status_one": "A tarefa {title} está **{status}**{due}.",
        "due_suffix": ", com prazo em {date} ({relative})",
        "no_due_suffix": " (sem prazo)",
        "ambiguous": "Encontrei várias tarefas que podem ser essa. Qual delas você quer dizer?",
        "no_match_ref": "Não encontrei nenhuma tarefa que corresponda a “{ref}”.",
        "no_match": "Não encontrei essa tarefa entre as que consigo ver.",
        "due_header": "Vence entre hoje e {end}:",
        "due_none": "Nada vence entre hoje e {end}.",
        "due_item": "- {title}: {date} ({relative})",
        "overdue_header_one": "Você tem 1 tarefa atrasada:",
        "overdue_header": "Você tem {count} tarefas atrasadas:",
        "overdue_none": "Você não tem tarefas atrasadas.",
        "overdue_item": "- {title}: prazo em {date}, {late}",
        "summary_status": "Status",
        "summary_due": "Prazo",
        "summary_assignees": "Responsáveis",
        "summary_priority": "Prioridade",
        "no_due": "sem prazo",
        "nobody": "ninguém ainda",
        "assignee_one": "A tarefa {title} está com {names}.",
        "assignee_none": "Ninguém foi atribuído à tarefa {title} ainda.",
        "candidate_item": "- {title}: {detail}",
        "blockers_header": "A tarefa {title} está bloqueada por:",
        "blocker_item": "- {title}: {status}, {owners}",
        "blocker_owners": "com {names}",
        "blocker_unowned": "sem responsável",
        "blockers_hidden_one": "- mais 1 tarefa cujos detalhes não consigo ver.",
        "blockers_hidden": "- mais {count} tarefas cujos detalhes não consigo ver.",
        "blockers_none": "Nada está bloqueando a tarefa {title}.",
        "blocked_unrecorded": "A tarefa {title} está marcada como bloqueada, mas nenhuma tarefa bloqueadora "
        "foi registrada.",
        "blockers_nowhere": "Não encontrei nada bloqueando suas tarefas.",
        "greeting": "Oi! Posso ajudar com suas tarefas: pergunte o que vence em breve, o que está atrasado ou "
        "sobre uma tarefa específica.",
        "help": "Posso ajudar com:\n"
        "- o que vence em breve (“o que vence essa semana?”)\n"
        "- o que está atrasado (“o que tá atrasado?”)\n"
        "- status, resumo ou responsáveis de uma tarefa (“resume essa tarefa”)\n"
        "- o que está bloqueando uma tarefa (“quem está me travando?”)\n\n"
        "Se precisar de uma pessoa, é só pedir que eu digo como falar com o suporte.",
        "feedback": "Obrigado pelo retorno! Isso me ajuda a melhorar.",
        "handoff": "Não consigo passar esta conversa para uma pessoa, e ninguém é avisado por aqui. A equipe "
        "de suporte do site pode ajudar: você fala com ela pela página de Ajuda do site.",
        "out_of_scope": "Desculpe, não consigo ajudar com isso: só respondo perguntas sobre as suas tarefas. "
        "Experimente perguntar o que vence essa semana, o que está atrasado ou pedir o resumo de uma tarefa.",
        "unspecified": "Não tenho certeza se entendi. Posso dizer o que vence em breve, o que está atrasado e "
        "o status, o resumo, os responsáveis ou os bloqueios de uma tarefa. Pode reformular?",
        "untitled": "(tarefa sem título)",
        "and": "e",
    },
}

STATUS_NAMES: dict[str, dict[int, str]] = {
    EN: {
        common_pb2.TASK_STATUS_UNSPECIFIED: "status unknown",
        common_pb2.TASK_STATUS_TODO: "not started",
        common_pb2.TASK_STATUS_IN_PROGRESS: "in progress",
        common_pb2.TASK_STATUS_BLOCKED: "blocked",
        common_pb2.TASK_STATUS_DONE: "done",
    },
    PT: {  # agree with "a tarefa" (feminine)
        common_pb2.TASK_STATUS_UNSPECIFIED: "com status desconhecido",
        common_pb2.TASK_STATUS_TODO: "pendente",
        common_pb2.TASK_STATUS_IN_PROGRESS: "em andamento",
        common_pb2.TASK_STATUS_BLOCKED: "bloqueada",
        common_pb2.TASK_STATUS_DONE: "concluída",
    },
}

PRIORITIES: dict[str, dict[str, str]] = {
    EN: {},
    PT: {"low": "baixa", "medium": "média", "high": "alta", "urgent": "urgente"},
}

MONTHS: dict[str, tuple[str, ...]] = {
    EN: ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
    PT: ("jan.", "fev.", "mar.", "abr.", "mai.", "jun.", "jul.", "ago.", "set.", "out.", "nov.", "dez."),
}


def language_key(language: int) -> str:
    """Portuguese for LANGUAGE_PT_BR; English otherwise (including unspecified)."""
    return PT if language == common_pb2.LANGUAGE_PT_BR else EN


def say(lang: str, key: str, **values: object) -> str:
    return PHRASES[lang][key].format(**values)


def short_date(lang: str, year: int, month: int, day: int, this_year: int) -> str:
    """Short dates ("Nov 30" / "30 de nov."), with the year only when it is not the current one."""
    name = MONTHS[lang][month - 1]
    if lang == PT:
        return f"{day} de {name}" + (f" de {year}" if year != this_year else "")
    return f"{name} {day}" + (f", {year}" if year != this_year else "")


def relative_day(lang: str, days: int) -> str:
    """Days from today as people say it: "tomorrow", "in 3 days", "há 2 dias"."""
    words = {EN: {0: "today", 1: "tomorrow", -1: "yesterday"}, PT: {0: "hoje", 1: "amanhã", -1: "ontem"}}
    if days in words[lang]:
        return words[lang][days]
    if lang == PT:
        return f"em {days} dias" if days > 0 else f"há {-days} dias"
    return f"in {days} days" if days > 0 else f"{-days} days ago"


def days_late(lang: str, days: int) -> str:
    if lang == PT:
        return "1 dia de atraso" if days == 1 else f"{days} dias de atraso"
    return "1 day late" if days == 1 else f"{days} days late"


def join_names(lang: str, names: Sequence[str]) -> str:
    """A list of names as people write it: "Ana, Bruno and Carla" / "Ana, Bruno e Carla"."""
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} {PHRASES[lang]['and']} {names[-1]}"
