"""Run the coordinator: `python -m coordinator` (settings from the environment)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from assist.v1 import coordinator_pb2, coordinator_pb2_grpc

from coordinator.agent_clients import AgentAddresses, connect_agents
from coordinator.service import CoordinatorServicer
from mesh.admission import TurnAdmission
from mesh.config import MongoSettings
from mesh.grpc_server import Registrar
from mesh.process import AgentSettings, run_agent
from mesh.storage.turns import ConversationStore, TurnStore
from mesh.stores import open_mongo


class CoordinatorSettings(AgentSettings, MongoSettings):
    service_name: str = "coordinator"
    listen_addr: str = "127.0.0.1:50051"
    guard_addr: str = "127.0.0.1:50061"
    nlu_addr: str = "127.0.0.1:50062"
    nlg_addr: str = "127.0.0.1:50063"
    context_addr: str = "127.0.0.1:50064"
    tasks_addr: str = "127.0.0.1:50065"
    feedback_addr: str = "127.0.0.1:50066"
    # Turns this replica runs at once before refusing new ones with UNAVAILABLE (mesh/admission.py); 0: no cap.
    coordinator_max_turns_in_flight: int = 48


def main() -> None:
    settings = CoordinatorSettings()

    @asynccontextmanager
    async def coordinator_service() -> AsyncIterator[tuple[Registrar, Sequence[str]]]:
        async with open_mongo(settings) as db:
            agents = connect_agents(
                AgentAddresses(
                    guard=settings.guard_addr,
                    nlu=settings.nlu_addr,
                    nlg=settings.nlg_addr,
                    context=settings.context_addr,
                    tasks=settings.tasks_addr,
                    feedback=settings.feedback_addr,
                )
            )
            servicer = CoordinatorServicer(
                agents,
                ConversationStore(db),
                TurnStore(db),
                admission=TurnAdmission("coordinator", settings.coordinator_max_turns_in_flight),
            )
            try:
                yield (
                    lambda server: coordinator_pb2_grpc.add_CoordinatorServiceServicer_to_server(
                        servicer, server
                    ),
                    [coordinator_pb2.DESCRIPTOR.services_by_name["CoordinatorService"].full_name],
                )
            finally:
                await agents.close()

    run_agent(settings, coordinator_service, grpc_client=True)


if __name__ == "__main__":
    main()
