"""The edge's settings, from the environment."""

from __future__ import annotations

from pathlib import Path

from mesh.components import component
from mesh.config import CommonSettings, RedisSettings

ROOT = Path(__file__).resolve().parent.parent


class EdgeSettings(CommonSettings, RedisSettings):
    service_name: str = "edge"
    # Every interface, as a container needs; the development launcher sets HOST=127.0.0.1.
    host: str = "0.0.0.0"
    port: int = component("edge").port
    # One host:port, several (replicas, comma-separated), or a gRPC target such as `dns:///name:50051`
    # (a headless Service: one address per replica); calls are balanced round robin (mesh/tls.py).
    coordinator_addr: str
    # The name the coordinator's certificate is checked against when COORDINATOR_ADDR does not say it
    # (several addresses, or a headless Service whose name the certificate does not carry).
    coordinator_tls_name: str = ""
    # Where the host publishes the public keys of users' tokens (its JWKS). Keys are chosen by `kid`,
    # cached AUTH_JWKS_CACHE_S, and refetched on an unknown kid at most once per AUTH_JWKS_MIN_REFETCH_S.
    auth_jwks_url: str = ""
    auth_jwks_cache_s: float = 300.0
    auth_jwks_min_refetch_s: float = 5.0
    # Development alternative to the JWKS: one public key (PEM file). One of the two is required.
    auth_public_key_file: str = ""
    auth_issuer: str = "assist-demo-site"
    auth_audience: str = "assist-edge"
    # Clock skew tolerated on exp/nbf/iat (RFC 8725 asks for a small one).
    auth_leeway_s: int = 30
    # The edge's client certificate for the coordinator (ca.crt, tls.crt, tls.key); empty: plaintext,
    # which a coordinator serving mTLS refuses (docs/internal-api.md).
    mesh_tls_dir: str = ""
    widget_bundle: Path = ROOT / "widget" / "dist" / "assist-chat.js"
    # Comma-separated origins allowed to call the API from another site; empty: same origin only.
    cors_origins: str = ""
    max_body_bytes: int = 16 * 1024
    # The whole turn's budget, set here and shrinking at each hop.
    turn_timeout_s: float = 30.0
    unary_timeout_s: float = 5.0
    # Messages a user may send in a burst, and how fast the allowance refills (per second); kept in Redis
    # so every edge replica shares it. With Redis down the edge lets messages through.
    turn_rate_burst: int = 20
    turn_rate_per_s: float = 0.5
    # Requests one client address may send to the API in a burst, and the refill per second; shared through
    # Redis like the per-user limit, and counted before the token is checked (floods without a token too).
    # Generous, because an office behind one NAT shares an address.
    ip_rate_burst: int = 300
    ip_rate_per_s: float = 10.0
    # Comma-separated addresses or networks of the proxies in front of the edge (a load balancer): only a
    # request from one of them has its X-Forwarded-For believed. Empty: the peer's address is the client's.
    trusted_proxies: str = ""
    # Model tokens one user may spend per UTC day (the NLG agent counts them in Redis); once spent, a new
    # message gets 429 with Retry-After to midnight UTC before anything is called. 0: no budget.
    daily_token_budget: int = 200_000
    # Turns (open answer streams) this edge process carries at once; beyond it a new message gets 503 with
    # Retry-After before anything is called (mesh/admission.py). 0: no cap.
    edge_max_turns_in_flight: int = 64
