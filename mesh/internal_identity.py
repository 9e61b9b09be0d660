"""Which internal client may call which RPC of the coordinator, and act for which users.

The caller is the identity in its client certificate (mesh/tls.py); the policy is a YAML (or JSON) file,
INTERNAL_CLIENTS_FILE, shaped like ops/internal-clients.yaml:

    clients:
      edge:
        act_for_users: any          # any | none | [user ids]
        rpcs: [CreateConversation, Converse, ListMessages, SubmitFeedback, SubmitSatisfaction]

`CallerPolicyInterceptor` checks every call before its handler runs. Health and reflection are open to
whoever got through the TLS handshake (they carry no user data, and probes and grpcurl need them); every
other call needs a client certificate (UNAUTHENTICATED without one), a client the policy knows and lets
call that RPC (PERMISSION_DENIED otherwise), and, when it names a user in `assist-user-id`, a client that
may act for that user (PERMISSION_DENIED). The handler then reads the user with `mesh.identity`.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import grpc
import yaml
from grpc_interceptor.server import AsyncServerInterceptor
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mesh.auth import USER_ID_METADATA_KEY
from mesh.tls import peer_identity

# Services any authenticated peer may call: no user data behind them.
OPEN_SERVICES = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)


class ClientPolicy(BaseModel):
    """What one internal client may do."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = ""
    # "any": it may name any user; "none": it may not act for users; a list: only those users.
    act_for_users: Literal["any", "none"] | list[str] = "none"
    # Method names of the coordinator's service (`Converse`), or "*" for all of them.
    rpcs: list[str] = Field(default_factory=list)

    def may_call(self, method: str) -> bool:
        return "*" in self.rpcs or method in self.rpcs

    def may_act_for(self, user_id: str) -> bool:
        if self.act_for_users == "any":
            return True
        if self.act_for_users == "none":
            return False
        return user_id in self.act_for_users


class InternalClientsPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    clients: dict[str, ClientPolicy] = Field(default_factory=dict)


class PolicyError(ValueError):
    """The policy file is missing or malformed; the message names the file and the problem."""


def load_policy(path: Path | str) -> InternalClientsPolicy:
    """Read the policy (YAML, of which JSON is a subset)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise PolicyError(f"{path}: {exc.strerror}") from None
    try:
        document = yaml.safe_load(text) if path.suffix != ".json" else json.loads(text)
        return InternalClientsPolicy.model_validate(document or {})
    except (yaml.YAMLError, json.JSONDecodeError, ValidationError) as exc:
        raise PolicyError(f"{path}: {exc}") from None


def _metadata_user(context: grpc.aio.ServicerContext) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == USER_ID_METADATA_KEY:
            return value.decode() if isinstance(value, bytes) else str(value)
    return None


class CallerPolicyInterceptor(AsyncServerInterceptor):
    """Refuses calls the caller's certificate and the policy do not allow, before the handler runs."""

    def __init__(self, policy: InternalClientsPolicy) -> None:
        self._policy = policy

    def decide(
        self, method_path: str, context: grpc.aio.ServicerContext
    ) -> tuple[grpc.StatusCode, str] | None:
        """None when the call may go on; else the status and a message that says what is missing."""
        if method_path.startswith(OPEN_SERVICES):
            return None
        method = method_path.rsplit("/", 1)[-1]
        client = peer_identity(context)
        if client is None:
            return (
                grpc.StatusCode.UNAUTHENTICATED,
                "this API needs a client certificate (mutual TLS); the call presented none",
            )
        rules = self._policy.clients.get(client)
        if rules is None:
            return grpc.StatusCode.PERMISSION_DENIED, f"internal client {client!r} is not in the policy"
        if not rules.may_call(method):
            return grpc.StatusCode.PERMISSION_DENIED, f"internal client {client!r} may not call {method}"
        user = _metadata_user(context)
        if user is not None and not rules.may_act_for(user):
            if rules.act_for_users == "none":
                return grpc.StatusCode.PERMISSION_DENIED, f"internal client {client!r} may not act for users"
            return grpc.StatusCode.PERMISSION_DENIED, f"internal client {client!r} may not act for {user!r}"
        return None

    async def intercept(
        self,
        method: Callable[..., Any],
        request_or_iterator: Any,
        context: grpc.aio.ServicerContext,
        method_name: str,
    ) -> Any:
        refusal = self.decide(method_name, context)
        if refusal is not None:
            await context.abort(*refusal)
        result = method(request_or_iterator, context)
        # A unary handler gives a coroutine; a streaming one an async generator the caller iterates.
        return await result if inspect.isawaitable(result) else result


def describe(policy: InternalClientsPolicy) -> Mapping[str, str]:
    """One line per client, for the coordinator's start-up log."""
    return {
        name: f"rpcs={','.join(rules.rpcs) or '-'} act_for_users={rules.act_for_users}"
        for name, rules in policy.clients.items()
    }
