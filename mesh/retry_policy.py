"""gRPC's own retries, configured per channel: which methods, on which codes, and a retry budget (A6).

Retries live in one layer only, the channel's service config, and nowhere else in the mesh:

- Only idempotent methods are named (a call that may run twice without harm: reads, replaces by id, and
  `Converse`, which the coordinator dedupes by `client_message_id`), and only UNAVAILABLE is retried: the
  code that says the call did not run (a refused turn, a server stopping, a connection refused).
- `retryThrottling` is gRPC's retry budget (gRFC A6): a token bucket per server name, `max_tokens` full;
  every failed call takes one token, every success gives back `token_ratio`, and retries stop while the
  bucket is at half or below. When most calls fail, retries stop after a handful, so they cannot multiply
  the load on a server that is already failing; they resume as calls succeed again.
- A server can say "do not retry this" with the `grpc-retry-pushback-ms` trailer (a negative value), as
  admission control does for an overloaded process (mesh/admission.py).

Why gRPC's and not an interceptor of ours (the coordinator had one): the channel retries below the
interceptors, so the circuit breaker and the metrics see one logical call; the budget is shared by every
channel to the same server as A6 asks; transparent retries (a call that never left the client) come for
free; and the overall deadline covers every attempt, as the turn's budget wants. What an interceptor could
add, backoff sized to the turn's remaining time, the deadline already gives (an attempt cannot outlive it).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

# The code that means "not done, try again": everything else is either final or may have had effects.
RETRYABLE_CODES = ("UNAVAILABLE",)
# Trailer by which a server forbids (negative) or delays (milliseconds) a retry of this call (A6).
PUSHBACK_METADATA_KEY = "grpc-retry-pushback-ms"
NO_RETRY = "-1"


def _method_name(full: str) -> dict[str, str]:
    """`/assist.v1.NluService/Understand` as a service config's method name."""
    service, _, method = full.strip("/").partition("/")
    return {"service": service, "method": method}


def service_config(
    retried_methods: Iterable[str],
    *,
    max_attempts: int = 3,
    initial_backoff_s: float = 0.05,
    max_backoff_s: float = 1.0,
    max_tokens: int = 10,
    token_ratio: float = 0.1,
    round_robin: bool = False,
) -> dict[str, Any]:
    """A service config retrying `retried_methods` (`/package.Service/Method`) under a retry budget.

    With `round_robin` the channel spreads calls over every address its target resolves to (replicas),
    watching each one's gRPC health so a replica that says NOT_SERVING gets no new calls.
    """
    config: dict[str, Any] = {
        "methodConfig": [
            {
                "name": [_method_name(m) for m in sorted(retried_methods)],
                "retryPolicy": {
                    "maxAttempts": max_attempts,
                    "initialBackoff": f"{initial_backoff_s}s",
                    "maxBackoff": f"{max_backoff_s}s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": list(RETRYABLE_CODES),
                },
            }
        ],
        "retryThrottling": {"maxTokens": max_tokens, "tokenRatio": token_ratio},
    }
    if round_robin:
        config["loadBalancingConfig"] = [{"round_robin": {}}]
        config["healthCheckConfig"] = {"serviceName": ""}
    return config


def channel_options(config: dict[str, Any]) -> list[tuple[str, Any]]:
    """Channel options applying `config` (and making sure retries are on, whatever the defaults)."""
    return [("grpc.service_config", json.dumps(config)), ("grpc.enable_retries", 1)]
