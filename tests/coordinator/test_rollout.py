"""The coordinator applies the rollout flags: widget config, refused conversations, cohort and writer per turn."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from assist.v1 import coordinator_pb2, nlg_pb2

from mesh.flags import COHORT_OFF, COHORT_ON, Flags
from mesh.identity import user_metadata
from mesh.storage.mongo import Database
from testing.flag_files import write_flags_file
from tests.coordinator.fake_agents import FakeAgents
from tests.coordinator.turn_harness import InProcessCoordinator, running_coordinator
from tests.mesh.test_flags import wait_for

pytestmark = pytest.mark.stack


@dataclass
class RolloutAt10:
    coordinator: InProcessCoordinator
    flags_file: Path
    inside: str
    outside: str


@pytest.fixture
async def at_10(db: Database, fake_agents: FakeAgents, tmp_path: Path) -> AsyncIterator[RolloutAt10]:
    flags_file = tmp_path / "flags.json"
    write_flags_file(flags_file, 10)
    async with running_coordinator(db, fake_agents, flags_file=flags_file) as coordinator:
        users = [f"user-{i}" for i in range(200)]
        inside = next(u for u in users if coordinator.flags.widget_enabled(u))
        outside = next(u for u in users if not coordinator.flags.widget_enabled(u))
        yield RolloutAt10(coordinator, flags_file, inside, outside)


async def widget_enabled(coordinator: InProcessCoordinator, user_id: str) -> bool:
    reply = await coordinator.stub.GetWidgetConfig(
        coordinator_pb2.GetWidgetConfigRequest(), metadata=user_metadata(user_id)
    )
    assert reply.HasField("enabled"), "enabled is always sent, false included"
    return bool(reply.enabled)


async def test_widget_config_says_enabled_only_inside_the_rollout(at_10: RolloutAt10) -> None:
    assert await widget_enabled(at_10.coordinator, at_10.inside) is True
    assert await widget_enabled(at_10.coordinator, at_10.outside) is False


async def test_widget_config_says_study_for_a_tester_in_the_study_mode_flag(at_10: RolloutAt10) -> None:
    coordinator = at_10.coordinator
    write_flags_file(at_10.flags_file, 10, study_testers=[at_10.inside, at_10.outside])
    await wait_for(lambda: coordinator.flags.study_mode(at_10.inside))

    async def config(user_id: str) -> coordinator_pb2.GetWidgetConfigResponse:
        return await coordinator.stub.GetWidgetConfig(  # type: ignore[no-any-return]
            coordinator_pb2.GetWidgetConfigRequest(), metadata=user_metadata(user_id)
        )

    tester, control = await config(at_10.inside), await config("not-a-tester")
    assert (tester.enabled, tester.study) == (True, True)
    assert control.study is False
    # A tester outside the rollout gets no widget, so no study either: the rollout stays the kill switch.
    outside = await config(at_10.outside)
    assert (outside.enabled, outside.study) == (False, False)


async def test_a_user_outside_the_rollout_cannot_start_a_conversation(at_10: RolloutAt10) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await at_10.coordinator.conversation(user_id=at_10.outside)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "not available" in (refused.value.details() or "")
    assert await at_10.coordinator.conversation(user_id=at_10.inside)


async def test_the_kill_switch_refuses_new_conversations_but_keeps_started_ones_answering(
    at_10: RolloutAt10,
) -> None:
    coordinator = at_10.coordinator
    started = await coordinator.conversation(user_id=at_10.inside)
    write_flags_file(at_10.flags_file, 0)
    await wait_for(lambda: not coordinator.flags.widget_enabled(at_10.inside))

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await coordinator.conversation(user_id=at_10.inside)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    outcome = await coordinator.converse(started, user_id=at_10.inside)
    assert outcome.done is not None


async def test_each_turn_event_carries_the_cohort_the_user_was_in(
    at_10: RolloutAt10, fake_agents: FakeAgents
) -> None:
    coordinator = at_10.coordinator
    conversation = await coordinator.conversation(user_id=at_10.inside)
    first = await coordinator.converse(conversation, user_id=at_10.inside)
    assert first.done is not None
    write_flags_file(at_10.flags_file, 0)  # the same user, now outside: the next turn says so
    await wait_for(lambda: not coordinator.flags.widget_enabled(at_10.inside))
    second = await coordinator.converse(conversation, user_id=at_10.inside)
    assert second.done is not None

    cohorts = []
    for outcome in (first, second):
        assert outcome.done is not None
        (event,) = await coordinator.stored_events(outcome.done.message_id)
        cohorts.append(event.interaction.cohort)
    assert cohorts == [COHORT_ON, COHORT_OFF]
    requested = [r.input.requested_writer for r in fake_agents.nlg.stream_generate.requests]
    assert requested == [nlg_pb2.WRITER_GEMINI, nlg_pb2.WRITER_LOCAL]


async def test_the_writer_flag_asks_the_nlg_agent_for_the_local_writer(
    at_10: RolloutAt10, fake_agents: FakeAgents
) -> None:
    write_flags_file(at_10.flags_file, 10, writer_when_on="local")
    flags: Flags = at_10.coordinator.flags
    await wait_for(lambda: flags.rollout(at_10.inside).writer == "local")
    conversation = await at_10.coordinator.conversation(user_id=at_10.inside)
    assert (await at_10.coordinator.converse(conversation, user_id=at_10.inside)).done is not None
    (request,) = fake_agents.nlg.stream_generate.requests
    assert request.input.requested_writer == nlg_pb2.WRITER_LOCAL
