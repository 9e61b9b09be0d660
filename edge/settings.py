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
    coordinator_addr: str
    # The public key that verifies users' tokens (PEM file); the development launcher supplies its own.
    auth_public_key_file: str
    auth_issuer: str = "assist-demo-site"
    auth_audience: str = "assist-edge"
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
    # Turns (open answer streams) this edge process carries at once; beyond it a new message gets 503 with
    # Retry-After before anything is called (mesh/admission.py). 0: no cap.
    edge_max_turns_in_flight: int = 64
