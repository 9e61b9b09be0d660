"""A retry budget (gRFC A6's retry throttling) for retries that are not gRPC's: the model client's.

A token bucket starts full at `max_tokens`. Every failed attempt takes a token, every success gives back
`token_ratio` of one, and a retry may start only while more than half the bucket is left. So when most
attempts fail (the model's API is down or throttling everyone) retries stop after a handful and each
request makes one attempt; as attempts succeed again the bucket refills and retries come back. Without it
three attempts per request triple the load on a server that is already failing.

gRPC channels get the same rule from their service config (mesh/retry_policy.py); this is the same
arithmetic for the Gemini client (mesh/llm.py), which retries over HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RetryBudget:
    """One bucket per server (or per model, whose quotas are separate)."""

    max_tokens: float = 10.0
    token_ratio: float = 0.1
    tokens: float = field(init=False)

    def __post_init__(self) -> None:
        if self.max_tokens <= 0 or not 0 < self.token_ratio <= 1:
            raise ValueError(f"inconsistent retry budget: {self}")
        self.tokens = self.max_tokens

    def record_failure(self) -> None:
        self.tokens = max(0.0, self.tokens - 1)

    def record_success(self) -> None:
        self.tokens = min(self.max_tokens, self.tokens + self.token_ratio)

    def may_retry(self) -> bool:
        """Whether a failed attempt may be followed by another now."""
        return self.tokens > self.max_tokens / 2
