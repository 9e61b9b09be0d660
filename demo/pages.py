"""The demo site's HTML: string.Template files filled with values escaped here.

Every value that comes from data (titles, descriptions, names) goes through `html.escape` before it reaches a
template, so a task titled `<img src=x onerror=...>` shows as text on the site as well as in the widget. The
widget is embedded exactly as the README tells a real site to: one script tag and one `<assist-chat>`.
"""

from __future__ import annotations

from datetime import date
from functools import cache
from html import escape
from pathlib import Path
from string import Template

from demo.data import DemoData, DemoTask, DemoUser

# The order a person reads statuses in, for the edit form's choices.
STATUS_ORDER = ("TODO", "IN_PROGRESS", "BLOCKED", "DONE")
TEMPLATES = Path(__file__).resolve().parent / "templates"
WIDGET_SCRIPT = '<script src="/widget/assist-chat.js" type="module" defer></script>'

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "site_name": "Tasks Demo",
        "nav_label": "Account",
        "signed_in_as": "Signed in as",
        "sign_out": "Sign out",
        "my_tasks": "My tasks",
        "intro": "The assistant in the corner knows these tasks. Ask it what is late or due.",
        "caption": "Tasks assigned to you, soonest due first",
        "title": "Title",
        "status": "Status",
        "due": "Due",
        "priority": "Priority",
        "project": "Project",
        "assignees": "Assignees",
        "blocked_by": "Blocked by",
        "description": "Description",
        "back": "All my tasks",
        "none": "none",
        "overdue": "overdue",
        "today": "today",
        "TODO": "To do",
        "IN_PROGRESS": "In progress",
        "BLOCKED": "Blocked",
        "DONE": "Done",
        "login": "Sign in to the demo",
        "login_intro": "Pick a person to act as. This stands in for the real site's sign-in.",
        "not_found": "Task not found",
        "not_found_text": "There is no such task among yours.",
        "edit": "Update this task",
        "save": "Save",
        "saved": "Saved. The assistant learns of the change within seconds.",
        "invalid": "Not saved: pick a status and a valid date (or leave the date empty).",
        "due_hint": "Leave empty for no due date.",
    },
    "pt-BR": {
        "site_name": "Tarefas Demo",
        "nav_label": "Conta",
        "signed_in_as": "Conectado como",
        "sign_out": "Sair",
        "my_tasks": "Minhas tarefas",
        "intro": "O assistente no canto conhece estas tarefas. Pergunte o que está atrasado ou o que vence.",
        "caption": "Tarefas atribuídas a você, as que vencem antes primeiro",
        "title": "Título",
        "status": "Situação",
        "due": "Prazo",
        "priority": "Prioridade",
        "project": "Projeto",
        "assignees": "Responsáveis",
        "blocked_by": "Bloqueada por",
        "description": "Descrição",
        "back": "Todas as minhas tarefas",
        "none": "nenhuma",
        "overdue": "atrasada",
        "today": "hoje",
        "TODO": "A fazer",
        "IN_PROGRESS": "Em andamento",
        "BLOCKED": "Bloqueada",
        "DONE": "Concluída",
        "login": "Entrar na demonstração",
        "login_intro": "Escolha uma pessoa. Isto faz o papel do login do site real.",
        "not_found": "Tarefa não encontrada",
        "not_found_text": "Não há essa tarefa entre as suas.",
        "edit": "Atualizar esta tarefa",
        "save": "Salvar",
        "saved": "Salvo. O assistente fica sabendo da mudança em poucos segundos.",
        "invalid": "Não salvo: escolha uma situação e uma data válida (ou deixe a data vazia).",
        "due_hint": "Deixe vazio para não ter prazo.",
    },
}


@cache
def _template(name: str) -> Template:
    return Template((TEMPLATES / name).read_text(encoding="utf-8"))


def _text(locale: str) -> dict[str, str]:
    return TEXT.get(locale, TEXT["en"])


def widget_tag(user: DemoUser, task: DemoTask | None = None) -> str:
    """The embed: general mode on the list, contextual mode (task id and title) on a task page."""
    attrs = [f'token-url="/token" locale="{escape(user.locale)}" theme="light"']
    if task is not None:
        attrs.append(f'task-id="{escape(task.task_id)}" task-title="{escape(task.title)}"')
    return f"{WIDGET_SCRIPT}\n<assist-chat {' '.join(attrs)}></assist-chat>"


def _page(locale: str, title: str, content: str, *, user: DemoUser | None, widget: str = "") -> str:
    t = _text(locale)
    nav = ""
    if user is not None:
        nav = (
            f"<span>{escape(t['signed_in_as'])} <strong>{escape(user.display_name)}</strong></span>"
            f'<a href="/logout">{escape(t["sign_out"])}</a>'
        )
    return _template("page.html").substitute(
        lang=escape(locale),
        title=escape(title),
        site_name=escape(t["site_name"]),
        nav_label=escape(t["nav_label"]),
        nav=nav,
        head="",
        content=content,
        widget=widget,
    )


def _due(task: DemoTask, t: dict[str, str], today: date) -> str:
    if not task.due_date:
        return escape(t["none"])
    due = date.fromisoformat(task.due_date)
    text = escape(task.due_date)
    if due < today and task.status != "DONE":
        return f'{text} <span class="late">({escape(t["overdue"])})</span>'
    if due == today:
        return f"{text} ({escape(t['today'])})"
    return text


def _status(task: DemoTask, t: dict[str, str]) -> str:
    return f'<span class="badge status-{escape(task.status)}">{escape(t[task.status])}</span>'


def task_list_page(data: DemoData, user: DemoUser, today: date) -> str:
    t = _text(user.locale)
    rows = "\n".join(
        "    <tr>"
        f"<td>{escape(task.task_id)}</td>"
        f'<td><a href="/tasks/{escape(task.task_id)}">{escape(task.title)}</a></td>'
        f"<td>{_status(task, t)}</td>"
        f"<td>{_due(task, t, today)}</td>"
        f'<td class="hide-narrow">{escape(task.priority)}</td>'
        f'<td class="hide-narrow">{escape(task.project)}</td>'
        "</tr>"
        for task in data.tasks_of(user.user_id)
    )
    content = _template("task_list.html").substitute(
        heading=escape(t["my_tasks"]),
        intro=escape(t["intro"]),
        caption=escape(t["caption"]),
        col_title=escape(t["title"]),
        col_status=escape(t["status"]),
        col_due=escape(t["due"]),
        col_priority=escape(t["priority"]),
        col_project=escape(t["project"]),
        rows=rows,
    )
    return _page(user.locale, t["my_tasks"], content, user=user, widget=widget_tag(user))


def edit_form(task: DemoTask, t: dict[str, str], csrf_token: str) -> str:
    """The status and due-date form: a plain POST back to the task's page, carrying the session's token."""
    options = "".join(
        f'<option value="{s}"{" selected" if s == task.status else ""}>{escape(t[s])}</option>'
        for s in STATUS_ORDER
    )
    return _template("task_edit.html").substitute(
        action=f"/tasks/{escape(task.task_id)}",
        heading=escape(t["edit"]),
        csrf=escape(csrf_token),
        label_status=escape(t["status"]),
        options=options,
        label_due=escape(t["due"]),
        due=escape(task.due_date),
        due_hint=escape(t["due_hint"]),
        save=escape(t["save"]),
    )


def task_page(
    data: DemoData,
    user: DemoUser,
    task: DemoTask,
    today: date,
    *,
    csrf_token: str | None = None,
    saved: bool = False,
    invalid: bool = False,
) -> str:
    """A task's page; with `csrf_token` (the site can write its database) it carries the edit form."""
    t = _text(user.locale)
    notice = ""
    if saved:
        notice = f'<p class="notice" role="status">{escape(t["saved"])}</p>'
    elif invalid:
        notice = f'<p class="notice error" role="alert">{escape(t["invalid"])}</p>'
    visible = {x.task_id for x in data.tasks_of(user.user_id)}
    assignees = ", ".join(escape(u.display_name) for u in data.users if u.user_id in task.assignee_ids)
    blockers = ", ".join(
        f'<a href="/tasks/{escape(b)}">{escape(b)}</a>' if b in visible else escape(b)
        for b in task.blocked_by
    )
    content = _template("task_page.html").substitute(
        back=escape(t["back"]),
        task_id=escape(task.task_id),
        title=escape(task.title),
        label_status=escape(t["status"]),
        status=escape(task.status),
        status_label=escape(t[task.status]),
        label_due=escape(t["due"]),
        due=_due(task, t, today),
        label_priority=escape(t["priority"]),
        priority=escape(task.priority),
        label_project=escape(t["project"]),
        project=escape(task.project),
        label_assignees=escape(t["assignees"]),
        assignees=assignees or escape(t["none"]),
        label_blocked_by=escape(t["blocked_by"]),
        blocked_by=blockers or escape(t["none"]),
        label_description=escape(t["description"]),
        description=escape(task.description),
        notice=notice,
        edit_form=edit_form(task, t, csrf_token) if csrf_token is not None else "",
    )
    return _page(
        user.locale, f"{task.task_id} {task.title}", content, user=user, widget=widget_tag(user, task)
    )


def not_found_page(user: DemoUser) -> str:
    t = _text(user.locale)
    content = (
        f"<h1>{escape(t['not_found'])}</h1><p>{escape(t['not_found_text'])}</p>"
        f'<p><a href="/">{escape(t["back"])}</a></p>'
    )
    return _page(user.locale, t["not_found"], content, user=user, widget=widget_tag(user))


def login_page(data: DemoData, next_path: str) -> str:
    t = _text("en")
    buttons = "\n".join(
        f'  <button type="submit" name="user" value="{escape(u.user_id)}">'
        f'{escape(u.display_name)} <span lang="{escape(u.locale)}">({escape(u.locale)})</span></button>'
        for u in data.users
    )
    content = _template("login.html").substitute(
        heading=escape(t["login"]), intro=escape(t["login_intro"]), next=escape(next_path), buttons=buttons
    )
    return _page("en", t["login"], content, user=None)
