"""Run the coordinator: `python -m coordinator` (settings from the environment)."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
from assist.v1 import coordinator_pb2, coordinator_pb2_grpc

from coordinator.agent_clients import connect_agents
from coordinator.service import CoordinatorServicer
from coordinator.turn_events import TurnEventLog
from mesh.admission import TurnAdmission
from mesh.components import AGENTS, listen_address
from mesh.config import ConfigurationError, MongoSettings, load_settings
from mesh.flags import FlagSettings, open_flags
from mesh.grpc_server import Registration, service_registration
from mesh.internal_identity import (
    CallerPolicyInterceptor,
    InternalClientsPolicy,
    PolicyError,
    describe,
    load_policy,
)
from mesh.logs import configure_logging
from mesh.process import AgentSettings, run_agent
from mesh.storage.from_settings import open_mongo
from mesh.storage.redis_store import make_redis
from mesh.storage.study import StudyStore
from mesh.storage.turns import ConversationStore, TurnStore
from mesh.tls import TlsFiles

log = logging.getLogger(__name__)


class CoordinatorSettings(AgentSettings, MongoSettings, FlagSettings):
    service_name: str = "coordinator"
    listen_addr: str = listen_address("coordinator")
    # Turns this replica runs at once before refusing new ones with UNAVAILABLE (mesh/admission.py); 0: no cap.
    coordinator_max_turns_in_flight: int = 48
    # Mutual TLS (docs/internal-api.md): ca.crt, tls.crt, tls.key; empty serves plaintext, where only
    # health and reflection answer (no call can act for a user without a client certificate).
    mesh_tls_dir: str = ""
    # Which internal client may call which RPC and act for users (ops/internal-clients.yaml); required
    # with MESH_TLS_DIR.
    internal_clients_file: str = ""
    # Redis keeps each turn's events for clients that resume a cut stream on any replica
    # (coordinator/turn_events.py); empty: no event log, a resume gets the stored answer when it is done.
    redis_url: str = ""
    redis_timeout_s: float = 0.5


def agent_addresses() -> dict[str, str]:
    """Each agent's address from its variable in the registry (GUARD_ADDR, NLU_ADDR, ...)."""
    return {a.name: os.environ[a.address_env] for a in AGENTS}


def caller_checks(
    settings: CoordinatorSettings,
) -> tuple[grpc.ServerCredentials | None, CallerPolicyInterceptor]:
    """The server's TLS credentials and the interceptor applying the internal clients policy."""
    if not settings.mesh_tls_dir:
        log.warning("serving without mutual TLS (MESH_TLS_DIR unset): only health and reflection will answer")
        return None, CallerPolicyInterceptor(InternalClientsPolicy())
    if not settings.internal_clients_file:
        raise ConfigurationError(
            f"{settings.service_name}: configuration error: missing INTERNAL_CLIENTS_FILE (required with MESH_TLS_DIR)"
        )
    try:
        credentials = TlsFiles(settings.mesh_tls_dir).server_credentials()
        policy = load_policy(settings.internal_clients_file)
    except (FileNotFoundError, PolicyError) as exc:
        raise ConfigurationError(f"{settings.service_name}: configuration error: {exc}") from None
    log.info("internal clients policy", extra={"clients": dict(describe(policy))})
    return credentials, CallerPolicyInterceptor(policy)


@asynccontextmanager
async def open_turn_events(settings: CoordinatorSettings) -> AsyncIterator[TurnEventLog]:
    """The turn event log on REDIS_URL, or one that keeps nothing when it is unset."""
    if not settings.redis_url:
        log.warning("REDIS_URL unset: a resumed stream gets the stored answer, not the events it missed")
        yield TurnEventLog(None)
        return
    redis = make_redis(settings.redis_url, settings.redis_timeout_s)
    try:
        yield TurnEventLog(redis)
    finally:
        await redis.aclose()


def main() -> None:
    # Every agent's address is required too: a coordinator missing one would fail every turn.
    settings = load_settings(CoordinatorSettings, also_required=[a.address_env for a in AGENTS])
    addresses = agent_addresses()
    configure_logging(settings.service_name, settings.log_level)
    credentials, policy_check = caller_checks(settings)

    @asynccontextmanager
    async def coordinator_service() -> AsyncIterator[Registration]:
        async with (
            open_mongo(settings) as db,
            open_flags(settings, service=settings.service_name) as flags,
            open_turn_events(settings) as events,
        ):
            agents = connect_agents(addresses)
            servicer = CoordinatorServicer(
                agents,
                ConversationStore(db),
                TurnStore(db),
                flags,
                admission=TurnAdmission("coordinator", settings.coordinator_max_turns_in_flight),
                study=StudyStore(db),
                events=events,
            )
            try:
                yield service_registration(
                    coordinator_pb2_grpc.add_CoordinatorServiceServicer_to_server,
                    servicer,
                    coordinator_pb2.DESCRIPTOR,
                )
            finally:
                await agents.close()

    run_agent(
        settings, coordinator_service, grpc_client=True, interceptors=[policy_check], credentials=credentials
    )


if __name__ == "__main__":
    main()
