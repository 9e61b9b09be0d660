"""One mapping from our exceptions to gRPC statuses, checked on a real grpc.aio server on port 0."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import ClassVar

import grpc
import pytest
from assist.v1 import tasks_pb2, tasks_pb2_grpc
from grpc_interceptor.exceptions import NotFound
from prometheus_client import REGISTRY

from mesh.errors import STORE_CAUSE, STORE_CAUSE_VALUE, InvalidInput, is_store_failure
from mesh.grpc_server import create_server, service_registration
from mesh.storage.mongo import NotFoundError, StoreUnavailable

LIST_TASKS = "/assist.v1.TasksService/ListTasks"


class FailingTasks(tasks_pb2_grpc.TasksServiceServicer):
    """Raises the exception named by the request's user id, as a servicer's store call would."""

    RAISES: ClassVar[dict[str, Exception]] = {
        "store-down": StoreUnavailable("MongoDB unavailable: ServerSelectionTimeoutError"),
        "missing": NotFoundError("conversation not found"),
        "bad": InvalidInput("score must be between 1 and 5"),
        "status": NotFound("no task T-9 for this user"),
        "bug": RuntimeError("a bug"),
    }

    async def ListTasks(  # noqa: N802 - gRPC method name
        self, request: tasks_pb2.ListTasksRequest, context: grpc.aio.ServicerContext
    ) -> tasks_pb2.ListTasksResponse:
        raise self.RAISES[request.user_id]

    async def GetTask(  # noqa: N802 - gRPC method name
        self, request: tasks_pb2.GetTaskRequest, context: grpc.aio.ServicerContext
    ) -> tasks_pb2.GetTaskResponse:
        raise self.RAISES[request.user_id]


@pytest.fixture
async def tasks() -> AsyncIterator[tasks_pb2_grpc.TasksServiceStub]:
    server, port, *_ = await create_server(
        *service_registration(
            tasks_pb2_grpc.add_TasksServiceServicer_to_server, FailingTasks(), tasks_pb2.DESCRIPTOR
        )
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield tasks_pb2_grpc.TasksServiceStub(channel)
    await server.stop(None)


async def _failure(stub: tasks_pb2_grpc.TasksServiceStub, user_id: str) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.ListTasks(tasks_pb2.ListTasksRequest(user_id=user_id), timeout=5)
    return raised.value


def _store_failures() -> float:
    return REGISTRY.get_sample_value("assist_rpc_store_failures_total", {"method": LIST_TASKS}) or 0.0


async def test_a_store_failure_is_unavailable_with_the_store_trailer_a_warning_and_a_count(
    tasks: tasks_pb2_grpc.TasksServiceStub, caplog: pytest.LogCaptureFixture
) -> None:
    before = _store_failures()
    error = await _failure(tasks, "store-down")
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert (STORE_CAUSE, STORE_CAUSE_VALUE) in tuple(error.trailing_metadata() or ())
    assert is_store_failure(error.trailing_metadata())
    assert "ServerSelectionTimeoutError" not in (error.details() or "")  # the driver's words stay inside
    assert _store_failures() == before + 1
    warning = next(r for r in caplog.records if r.getMessage() == "store unavailable")
    assert warning.levelname == "WARNING"
    assert warning.__dict__["method"] == LIST_TASKS
    assert "ServerSelectionTimeoutError" in warning.__dict__["store_error"]


@pytest.mark.parametrize(
    ("user_id", "code", "details"),
    [
        ("missing", grpc.StatusCode.NOT_FOUND, "conversation not found"),
        ("bad", grpc.StatusCode.INVALID_ARGUMENT, "score must be between 1 and 5"),
        ("status", grpc.StatusCode.NOT_FOUND, "no task T-9 for this user"),
    ],
)
async def test_our_exceptions_become_their_status_without_the_store_trailer(
    tasks: tasks_pb2_grpc.TasksServiceStub, user_id: str, code: grpc.StatusCode, details: str
) -> None:
    error = await _failure(tasks, user_id)
    assert (error.code(), error.details()) == (code, details)
    assert not is_store_failure(error.trailing_metadata())


async def test_an_unexpected_exception_stays_unknown_and_is_not_a_store_failure(
    tasks: tasks_pb2_grpc.TasksServiceStub,
) -> None:
    error = await _failure(tasks, "bug")
    assert error.code() == grpc.StatusCode.UNKNOWN  # the edge shows no details for UNKNOWN
    assert not is_store_failure(error.trailing_metadata())
