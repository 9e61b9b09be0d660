"""Run the coordinator: `python -m coordinator` (settings from the environment)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from assist.v1 import coordinator_pb2, coordinator_pb2_grpc

from coordinator.agent_clients import connect_agents
from coordinator.service import CoordinatorServicer
from mesh.admission import TurnAdmission
from mesh.components import AGENTS, listen_address
from mesh.config import MongoSettings, load_settings
from mesh.flags import FlagSettings, open_flags
from mesh.grpc_server import Registration, service_registration
from mesh.process import AgentSettings, run_agent
from mesh.storage.from_settings import open_mongo
from mesh.storage.turns import ConversationStore, TurnStore


class CoordinatorSettings(AgentSettings, MongoSettings, FlagSettings):
    service_name: str = "coordinator"
    listen_addr: str = listen_address("coordinator")
    # Turns this replica runs at once before refusing new ones with UNAVAILABLE (mesh/admission.py); 0: no cap.
    coordinator_max_turns_in_flight: int = 48


def agent_addresses() -> dict[str, str]:
    """Each agent's address from its variable in the registry (GUARD_ADDR, NLU_ADDR, ...)."""
    return {a.name: os.environ[a.address_env] for a in AGENTS}


def main() -> None:
    # Every agent's address is required too: a coordinator missing one would fail every turn.
    settings = load_settings(CoordinatorSettings, also_required=[a.address_env for a in AGENTS])
    addresses = agent_addresses()

    @asynccontextmanager
    async def coordinator_service() -> AsyncIterator[Registration]:
        async with open_mongo(settings) as db, open_flags(settings, service=settings.service_name) as flags:
            agents = connect_agents(addresses)
            servicer = CoordinatorServicer(
                agents,
                ConversationStore(db),
                TurnStore(db),
                flags,
                admission=TurnAdmission("coordinator", settings.coordinator_max_turns_in_flight),
            )
            try:
                yield service_registration(
                    coordinator_pb2_grpc.add_CoordinatorServiceServicer_to_server,
                    servicer,
                    coordinator_pb2.DESCRIPTOR,
                )
            finally:
                await agents.close()

    run_agent(settings, coordinator_service, grpc_client=True)


if __name__ == "__main__":
    main()
