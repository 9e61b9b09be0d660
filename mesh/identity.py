"""The user a gRPC call acts for: named in metadata by an authenticated internal client, never by anyone.

A user id in `assist-user-id` is believed only on a call whose client certificate gRPC verified (mutual
TLS, mesh/tls.py) and which the internal clients policy let through (mesh/internal_identity.py checks
that the client may act for that user before the handler runs). Over plaintext there is no client
identity, so no call can act for a user: UNAUTHENTICATED.
"""

from __future__ import annotations

import re

import grpc
from grpc_interceptor.exceptions import Unauthenticated

from mesh.auth import USER_ID_METADATA_KEY
from mesh.tls import peer_identity

_USER_ID = re.compile(r"^[A-Za-z0-9_.@:-]{1,128}$")


def caller_user_id(context: grpc.aio.ServicerContext) -> str:
    """The user named by the authenticated client; UNAUTHENTICATED without a client identity, or when the
    `assist-user-id` metadata is missing or malformed."""
    if peer_identity(context) is None:
        raise Unauthenticated(
            "acting for a user needs an authenticated internal client (mutual TLS); the call has none"
        )
    for key, value in context.invocation_metadata() or ():
        if key == USER_ID_METADATA_KEY:
            text = value.decode() if isinstance(value, bytes) else value
            if _USER_ID.match(text):
                return text
            raise Unauthenticated("the assist-user-id metadata is malformed")
    raise Unauthenticated("the call names no user (assist-user-id metadata)")


def user_metadata(user_id: str) -> tuple[tuple[str, str], ...]:
    """Metadata that makes a call act for user_id (honoured only from an allowed, authenticated client)."""
    return ((USER_ID_METADATA_KEY, user_id),)
