"""The errors every layer shares, and how a store failure is told apart on the wire.

Servicers raise what happened (`StoreUnavailable`, `NotFoundError`, `InvalidInput`, or grpc-interceptor's
status exceptions such as `NotFound`) and never map them by hand: `mesh.error_status` does, on every
server. A store failure is a different thing from a broken agent: the answer is UNAVAILABLE either way,
but it also carries the trailer `assist-cause: store`, so the coordinator's circuit breaker can leave an
agent alone whose database is down (the agent itself is fine; tripping it would only hide the recovery).

No gRPC or driver imports here: the stores raise these too.
"""

from __future__ import annotations

from collections.abc import Iterable

# Trailing metadata on a call that failed because the server's store did: key and value.
STORE_CAUSE = "assist-cause"
STORE_CAUSE_VALUE = "store"


class InvalidInput(ValueError):
    """The request cannot be served as asked (a rating out of range, a comment too long): INVALID_ARGUMENT.

    A ValueError, so code that validates without knowing about gRPC raises and catches it as one.
    """


def is_store_failure(trailing_metadata: Iterable[tuple[str, str | bytes]] | None) -> bool:
    """Whether a failed call's trailers say `assist-cause: store` (the callee's store failed, not the callee).

    Pass `AioRpcError.trailing_metadata()`.
    """
    return any(key == STORE_CAUSE and value == STORE_CAUSE_VALUE for key, value in trailing_metadata or ())
