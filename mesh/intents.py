"""Groups of intents that more than one process reasons about, defined once."""

from __future__ import annotations

from assist.v1 import common_pb2

# Questions answered from the user's task facts.
TASK_QUESTIONS = frozenset(
    {
        common_pb2.INTENT_TASK_STATUS,
        common_pb2.INTENT_TASKS_DUE,
        common_pb2.INTENT_TASKS_OVERDUE,
        common_pb2.INTENT_SUMMARIZE_TASK,
        common_pb2.INTENT_TASK_ASSIGNEE,
        common_pb2.INTENT_TASK_BLOCKERS,
    }
)

# Questions about one task ("it", "this task"), which a follow-up may ask without naming the task.
SINGLE_TASK_QUESTIONS = frozenset(
    {
        common_pb2.INTENT_TASK_STATUS,
        common_pb2.INTENT_SUMMARIZE_TASK,
        common_pb2.INTENT_TASK_ASSIGNEE,
        common_pb2.INTENT_TASK_BLOCKERS,
    }
)
