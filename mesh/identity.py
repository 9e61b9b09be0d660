"""The user a gRPC call acts for, from its metadata (never from a request body)."""

from __future__ import annotations

import re

import grpc
from grpc_interceptor.exceptions import Unauthenticated

from mesh.auth import USER_ID_METADATA_KEY

_USER_ID = re.compile(r"^[A-Za-z0-9_.@:-]{1,128}$")


def caller_user_id(context: grpc.aio.ServicerContext) -> str:
    """The `assist-user-id` metadata value; UNAUTHENTICATED when it is missing or malformed."""
    for key, value in context.invocation_metadata() or ():
        if key == USER_ID_METADATA_KEY:
            text = value.decode() if isinstance(value, bytes) else value
            if _USER_ID.match(text):
                return text
            raise Unauthenticated("the assist-user-id metadata is malformed")
    raise Unauthenticated("the call names no user (assist-user-id metadata)")


def user_metadata(user_id: str) -> tuple[tuple[str, str], ...]:
    """Metadata that makes a call act for user_id."""
    return ((USER_ID_METADATA_KEY, user_id),)
