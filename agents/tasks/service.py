"""TasksService over gRPC: only ever the calling user's tasks (and the blockers of one of them)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
from assist.v1 import common_pb2, tasks_pb2, tasks_pb2_grpc
from grpc_interceptor.exceptions import InvalidArgument, NotFound

from mesh.components import listen_address
from mesh.config import MongoSettings
from mesh.grpc_server import Registration, service_registration
from mesh.process import AgentSettings, ServiceFactory
from mesh.storage.from_settings import open_mongo
from mesh.storage.tasks import TaskStore

MAX_PAGE = 200


class TasksSettings(AgentSettings, MongoSettings):
    service_name: str = "tasks"
    listen_addr: str = listen_address("tasks")


class TasksServicer(tasks_pb2_grpc.TasksServiceServicer):
    def __init__(self, tasks: TaskStore) -> None:
        self._tasks = tasks

    async def ListTasks(  # noqa: N802 - gRPC method name
        self,
        request: tasks_pb2.ListTasksRequest,
        context: grpc.aio.ServicerContext,
    ) -> tasks_pb2.ListTasksResponse:
        if not request.user_id:
            raise InvalidArgument("user_id is required")
        tasks = await self._tasks.list_for_user(
            request.user_id,
            due_on_or_before=request.due_on_or_before,
            exclude_done=request.exclude_done,
            title_query=request.title_query,
            limit=min(request.page_size or 50, MAX_PAGE),
        )
        return tasks_pb2.ListTasksResponse(tasks=tasks)

    async def GetTask(  # noqa: N802 - gRPC method name
        self,
        request: tasks_pb2.GetTaskRequest,
        context: grpc.aio.ServicerContext,
    ) -> tasks_pb2.GetTaskResponse:
        if not request.user_id or not request.task_id:
            raise InvalidArgument("user_id and task_id are required")
        task = await self._tasks.get_for_user(request.user_id, request.task_id)
        if task is None:
            raise NotFound(f"no task {request.task_id} for this user")
        blockers = await self._tasks.get_many(list(task.blocked_by_task_ids))
        return tasks_pb2.GetTaskResponse(
            task=task,
            blockers=[_blocker_view(b) for b in blockers if b.status != common_pb2.TASK_STATUS_DONE],
        )


def _blocker_view(task: common_pb2.Task) -> common_pb2.Task:
    """Only what the user needs to know who is blocking them: another user's task stays private otherwise."""
    return common_pb2.Task(
        task_id=task.task_id,
        title=task.title,
        status=task.status,
        assignees=task.assignees,
        due_date=task.due_date,
    )


def tasks_service_factory(settings: TasksSettings) -> ServiceFactory:
    @asynccontextmanager
    async def tasks_service() -> AsyncIterator[Registration]:
        async with open_mongo(settings) as db:
            servicer = TasksServicer(TaskStore(db))
            yield service_registration(
                tasks_pb2_grpc.add_TasksServiceServicer_to_server, servicer, tasks_pb2.DESCRIPTOR
            )

    return tasks_service
