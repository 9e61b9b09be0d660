"""The real coordinator, in-process, against the scripted fake agents and a real MongoDB database.

Wired as `coordinator/__main__.py` wires it (agent clients with their breakers, retry policy and deadline
interceptors, the servicer, the stores) and served by `create_server` on port 0; tests talk to it through
a real gRPC channel, as the edge does. Turns are stored for real (the `db` fixture: a fresh database on
the local stack's FerretDB), since what a branch stores is half of what it does.

    async with running_fake_agents() as agents, running_coordinator(db, agents) as coordinator:
        conversation_id = await coordinator.conversation()
        outcome = await coordinator.converse(conversation_id, "what is late?")
        assert outcome.kinds == ["accepted", "intent", "delta", "delta", "done"]
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import grpc
from assist.v1 import common_pb2, coordinator_pb2, coordinator_pb2_grpc, events_pb2

from coordinator.agent_clients import AgentClients, CallCaps, connect_agents
from coordinator.service import CoordinatorServicer
from mesh.flags import Flags
from mesh.grpc_server import create_server
from mesh.identity import user_metadata
from mesh.internal_identity import CallerPolicyInterceptor, load_policy
from mesh.storage.mongo import Database
from mesh.storage.turns import ConversationStore, Turn, TurnStore
from mesh.tls import TlsFiles, coordinator_channel, ensure_dev_pki
from testing.flag_files import DEV_FLAGS
from tests.coordinator.fake_agents import FakeAgents

USER = "u-harness"
POLICY_FILE = Path(__file__).resolve().parents[2] / "ops" / "internal-clients.yaml"
# Who the harness calls as, unless a test says otherwise: an internal app that may act for any user.
CALLER = "assist-cli"


@cache
def harness_pki() -> Path:
    """A development PKI for this test session (made once: a CA and one certificate per identity)."""
    return ensure_dev_pki(Path(tempfile.mkdtemp(prefix="assist-harness-tls-")))


@dataclass(frozen=True)
class TurnOutcome:
    """What the caller of Converse got: the events, then the call's status."""

    events: list[coordinator_pb2.ConverseResponse]
    code: grpc.StatusCode
    details: str

    @property
    def kinds(self) -> list[str]:
        """The event kinds in order: accepted, intent, delta..., done or error."""
        return [str(event.WhichOneof("event")) for event in self.events]

    @property
    def text(self) -> str:
        """The answer as the user saw it arrive: the deltas joined."""
        return "".join(event.delta.text for event in self.events if event.HasField("delta"))

    def _only(self, kind: str) -> coordinator_pb2.ConverseResponse | None:
        found = [event for event in self.events if event.WhichOneof("event") == kind]
        assert len(found) <= 1, f"more than one {kind} event: {self.kinds}"
        return found[0] if found else None

    @property
    def accepted(self) -> coordinator_pb2.TurnAccepted | None:
        event = self._only("accepted")
        return None if event is None else event.accepted

    @property
    def intent(self) -> coordinator_pb2.IntentRecognized | None:
        event = self._only("intent")
        return None if event is None else event.intent

    @property
    def done(self) -> coordinator_pb2.TurnDone | None:
        event = self._only("done")
        return None if event is None else event.done

    @property
    def error(self) -> coordinator_pb2.TurnError | None:
        event = self._only("error")
        return None if event is None else event.error


class InProcessCoordinator:
    """A CoordinatorService on port 0 over the fake agents; `converse` runs one turn as a client would."""

    def __init__(
        self, db: Database, agents: FakeAgents, caps: CallCaps | None = None, flags_file: Path = DEV_FLAGS
    ) -> None:
        self._db = db
        # Everyone inside the rollout unless a test gives a flags file of its own.
        self.flags = Flags(flags_file, poll_ms=100)
        self._fakes = agents
        self._caps = caps
        self.turns = TurnStore(db)
        self.conversations = ConversationStore(db)

    async def start(self) -> None:
        await self.flags.start()
        self.agents: AgentClients = connect_agents(self._fakes.addresses(), self._caps)
        self.servicer = CoordinatorServicer(self.agents, self.conversations, self.turns, self.flags)
        # Served as coordinator/__main__.py serves it: mutual TLS and the internal clients policy.
        self._server, self.port, *_ = await create_server(
            lambda s: coordinator_pb2_grpc.add_CoordinatorServiceServicer_to_server(self.servicer, s),
            ["assist.v1.CoordinatorService"],
            interceptors=[CallerPolicyInterceptor(load_policy(POLICY_FILE))],
            credentials=TlsFiles(harness_pki() / "coordinator").server_credentials(),
        )
        self._channels: list[grpc.aio.Channel] = []
        self.stub = self.stub_as(CALLER)

    def stub_as(self, identity: str | None) -> coordinator_pb2_grpc.CoordinatorServiceStub:
        """A stub whose calls present `identity`'s certificate (None: plaintext, no certificate)."""
        tls = None if identity is None else harness_pki() / identity
        channel = coordinator_channel(f"127.0.0.1:{self.port}", tls)
        self._channels.append(channel)
        return coordinator_pb2_grpc.CoordinatorServiceStub(channel)

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close()
        await self._server.stop(0)
        await self.settled()
        await self.agents.close()
        await self.flags.close()

    async def settled(self, timeout_s: float = 10.0) -> None:
        """Wait for turns still running after their caller left (they run to the end by design)."""
        # The servicer keeps its detached turn tasks in `_running`; waiting on them is test-only.
        running = list(self.servicer._running)
        if running:
            await asyncio.wait(running, timeout=timeout_s)

    async def conversation(
        self, *, user_id: str = USER, page_context: common_pb2.PageContext | None = None
    ) -> str:
        reply = await self.stub.CreateConversation(
            coordinator_pb2.CreateConversationRequest(page_context=page_context),
            metadata=user_metadata(user_id),
        )
        return str(reply.conversation.conversation_id)

    async def converse(
        self,
        conversation_id: str,
        text: str = "what is late?",
        *,
        client_message_id: str | None = None,
        deadline_s: float = 10.0,
        task_id: str = "",
        language_hint: common_pb2.Language.ValueType = common_pb2.LANGUAGE_UNSPECIFIED,
        user_id: str = USER,
    ) -> TurnOutcome:
        """Send one message and read the whole stream; a failed call is an outcome, not an exception."""
        request = coordinator_pb2.ConverseRequest(
            conversation_id=conversation_id,
            client_message_id=client_message_id or uuid.uuid4().hex,
            text=text,
            language_hint=language_hint,
            page_context=common_pb2.PageContext(task_id=task_id),
        )
        events: list[coordinator_pb2.ConverseResponse] = []
        call = self.stub.Converse(request, metadata=user_metadata(user_id), timeout=deadline_s)
        try:
            async for event in call:
                events.append(event)
        except grpc.aio.AioRpcError as exc:
            return TurnOutcome(events, exc.code(), exc.details() or "")
        return TurnOutcome(events, grpc.StatusCode.OK, "")

    async def stored_turn(self, conversation_id: str, client_message_id: str) -> Turn | None:
        doc = await self._db.turns.find_one(
            {"conversation_id": conversation_id, "client_message_id": client_message_id}
        )
        return None if doc is None else Turn.from_doc(doc)

    async def completed_turn(
        self, conversation_id: str, client_message_id: str, timeout_s: float = 5.0
    ) -> Turn:
        """The stored turn once it is done (a turn whose caller left completes in the background)."""
        deadline = time.monotonic() + timeout_s
        while True:
            turn = await self.stored_turn(conversation_id, client_message_id)
            if turn is not None and turn.done:
                return turn
            assert time.monotonic() < deadline, f"the turn was not completed in {timeout_s} s: {turn}"
            await asyncio.sleep(0.02)

    async def stored_events(self, turn_id: str) -> list[events_pb2.EventEnvelope]:
        """The outbox of a stored turn: the events the relay will publish for it."""
        doc = await self._db.turns.find_one({"_id": turn_id})
        assert doc is not None
        return [events_pb2.EventEnvelope.FromString(entry["payload"]) for entry in doc.get("outbox", [])]


@asynccontextmanager
async def running_coordinator(
    db: Database, agents: FakeAgents, caps: CallCaps | None = None, flags_file: Path = DEV_FLAGS
) -> AsyncIterator[InProcessCoordinator]:
    """Serve the coordinator over `agents` until the block ends (then let detached turns finish)."""
    coordinator = InProcessCoordinator(db, agents, caps, flags_file)
    await coordinator.start()
    try:
        yield coordinator
    finally:
        await coordinator.close()
