"""The mapping from a host's task schema to the assistant's Task: a query and column names, from a file.

A host whose schema differs gets another mapping file (HOST_SYNC_MAPPING_FILE), not another version of the
worker. The file is checked when loaded, so a typo stops the worker at start with a message naming it;
a row the mapping cannot turn into a task raises BadRow, which the worker reports and skips.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml
from assist.v1 import common_pb2
from google.protobuf.timestamp_pb2 import Timestamp

REQUIRED_COLUMNS = ("task_id", "title", "status", "updated_at")
OPTIONAL_COLUMNS = (
    "description",
    "priority",
    "due_date",
    "project",
    "assignees",
    "blocked_by",
    "version",
    "deleted",
)
QUERY_PARAMETERS = ("%(after_updated_at)s", "%(after_id)s", "%(limit)s")
STATUSES: dict[str, common_pb2.TaskStatus.ValueType] = {
    "TODO": common_pb2.TASK_STATUS_TODO,
    "IN_PROGRESS": common_pb2.TASK_STATUS_IN_PROGRESS,
    "BLOCKED": common_pb2.TASK_STATUS_BLOCKED,
    "DONE": common_pb2.TASK_STATUS_DONE,
}
MAX_TITLE = 500
MAX_DESCRIPTION = 20_000


class MappingError(ValueError):
    """The mapping file is unusable (the worker does not start)."""


class BadRow(ValueError):
    """One row cannot become a task; the message says why (the worker reports it and goes on)."""


@dataclass(frozen=True)
class TaskChange:
    """One row of the host, as the assistant will store it."""

    task: common_pb2.Task
    deleted: bool
    updated_at: datetime
    # Orders the changes of one task: the row's version when mapped, else updated_at in microseconds.
    rank: int
    # The row's watermark position (updated_at, task id).
    position: tuple[datetime, str]


@dataclass(frozen=True)
class HostMapping:
    """What the mapping file says."""

    query: str
    columns: Mapping[str, str]
    status_values: Mapping[str, str]
    url_template: str = ""
    source: str = "host_tasks"

    def column(self, row: Mapping[str, Any], name: str) -> Any:
        column = self.columns.get(name)
        return row.get(column) if column else None

    def position(self, row: Mapping[str, Any]) -> tuple[datetime, str]:
        """The row's watermark position, read even from a row that is otherwise bad (to move past it)."""
        updated_at = self.column(row, "updated_at")
        if not isinstance(updated_at, datetime):
            raise BadRow(f"updated_at is {updated_at!r}, not a timestamp: the row cannot be ordered")
        return _aware(updated_at), str(self.column(row, "task_id") or "")

    def to_change(self, row: Mapping[str, Any]) -> TaskChange:
        """The row as a task change; BadRow says what is wrong with it."""
        updated_at, task_id = self.position(row)
        if not task_id.strip():
            raise BadRow("empty task id")
        deleted = bool(self.column(row, "deleted"))
        version = self.column(row, "version")
        if version is not None and not isinstance(version, int):
            raise BadRow(f"version {version!r} is not an integer")
        rank = version if version is not None else _micros(updated_at)
        stamp = Timestamp()
        stamp.FromDatetime(updated_at)
        if deleted:
            task = common_pb2.Task(task_id=task_id, updated_at=stamp)
            return TaskChange(task, True, updated_at, rank, (updated_at, task_id))
        title = _text(self.column(row, "title"), "title", MAX_TITLE)
        if not title.strip():
            raise BadRow("empty title")
        raw_status = self.column(row, "status")
        status = self.status_values.get(str(raw_status))
        if status is None:
            raise BadRow(f"status {raw_status!r} is not in the mapping's status_values")
        task = common_pb2.Task(
            task_id=task_id,
            title=title,
            description=_text(self.column(row, "description"), "description", MAX_DESCRIPTION),
            status=STATUSES[status],
            due_date=_due_date(self.column(row, "due_date")),
            assignees=_people(self.column(row, "assignees")),
            project=_text(self.column(row, "project"), "project", MAX_TITLE),
            priority=_text(self.column(row, "priority"), "priority", 40),
            blocked_by_task_ids=_strings(self.column(row, "blocked_by"), "blocked_by"),
            updated_at=stamp,
            url=self.url_template.replace("{task_id}", task_id) if self.url_template else "",
        )
        return TaskChange(task, False, updated_at, rank, (updated_at, task_id))


def load_mapping(path: Path) -> HostMapping:
    """Read and check a mapping file (YAML); MappingError names what is wrong."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise MappingError(f"{path}: cannot read the mapping: {exc}") from exc
    if not isinstance(raw, dict):
        raise MappingError(f"{path}: a mapping file is a YAML object")
    query, columns, statuses = raw.get("query"), raw.get("columns"), raw.get("status_values")
    if not isinstance(query, str) or not query.strip():
        raise MappingError(f"{path}: 'query' is required")
    if missing := [p for p in QUERY_PARAMETERS if p not in query]:
        raise MappingError(f"{path}: the query must use {', '.join(missing)}")
    if not isinstance(columns, dict) or not all(isinstance(v, str) for v in columns.values()):
        raise MappingError(f"{path}: 'columns' maps each field to a result column name")
    if missing := [c for c in REQUIRED_COLUMNS if c not in columns]:
        raise MappingError(f"{path}: 'columns' lacks {', '.join(missing)}")
    if unknown := sorted(set(columns) - set(REQUIRED_COLUMNS) - set(OPTIONAL_COLUMNS)):
        raise MappingError(f"{path}: unknown fields in 'columns': {', '.join(unknown)}")
    if not isinstance(statuses, dict) or not statuses:
        raise MappingError(f"{path}: 'status_values' maps the host's statuses to {', '.join(STATUSES)}")
    if bad := sorted(str(v) for v in statuses.values() if v not in STATUSES):
        raise MappingError(f"{path}: status_values must map to {', '.join(STATUSES)}, not {', '.join(bad)}")
    return HostMapping(
        query=query,
        columns=dict(columns),
        status_values={str(k): str(v) for k, v in statuses.items()},
        url_template=str(raw.get("url_template") or ""),
        source=str(raw.get("source") or "host_tasks"),
    )


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _micros(value: datetime) -> int:
    return int(value.timestamp()) * 1_000_000 + value.microsecond


def _text(value: Any, name: str, limit: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadRow(f"{name} is {type(value).__name__}, not text")
    if len(value) > limit:
        raise BadRow(f"{name} is longer than {limit} characters")
    return value


def _due_date(value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise BadRow(f"due date {value!r} is not a date") from None


def _strings(value: Any, name: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = json.loads(value)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRow(f"{name} is not a list of ids")
    return list(value)


def _people(value: Any) -> list[common_pb2.Person]:
    if value is None:
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise BadRow("assignees is not JSON") from None
    if not isinstance(value, list):
        raise BadRow("assignees is not a list")
    people = []
    for person in value:
        if (
            not isinstance(person, dict)
            or not isinstance(person.get("user_id"), str)
            or not person["user_id"]
        ):
            raise BadRow(f"assignee {person!r} has no user_id")
        people.append(
            common_pb2.Person(user_id=person["user_id"], display_name=str(person.get("display_name") or ""))
        )
    return people
