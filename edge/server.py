"""Running an edge app: logs and telemetry, the token verifier from settings, and uvicorn.

Shared by `python -m edge` and the development launcher's edge with the demo site (devtools.demo_edge).
"""

from __future__ import annotations

from pathlib import Path

import uvicorn
from starlette.applications import Starlette

from edge.settings import EdgeSettings
from mesh.auth import JwksKeys, KeySource, StaticKey, TokenVerifier
from mesh.config import ConfigurationError
from mesh.logs import configure_logging
from mesh.telemetry import configure_telemetry


def configure_process(settings: EdgeSettings) -> None:
    """Logs and telemetry for an edge process; call once, first."""
    configure_logging(settings.service_name, settings.log_level)
    configure_telemetry(settings, grpc_server=False, grpc_client=True)


def verifier_for(settings: EdgeSettings) -> TokenVerifier:
    """The verifier of users' tokens: the host's JWKS (AUTH_JWKS_URL), else the development key file."""
    keys: KeySource
    if settings.auth_jwks_url:
        keys = JwksKeys(
            settings.auth_jwks_url,
            cache_s=settings.auth_jwks_cache_s,
            min_refetch_s=settings.auth_jwks_min_refetch_s,
        )
    elif settings.auth_public_key_file:
        path = Path(settings.auth_public_key_file)
        try:
            keys = StaticKey(path.read_bytes())
        except OSError as exc:
            raise ConfigurationError(
                f"{settings.service_name}: configuration error: AUTH_PUBLIC_KEY_FILE ({path}): {exc.strerror}"
            ) from None
    else:
        raise ConfigurationError(
            f"{settings.service_name}: configuration error: missing AUTH_JWKS_URL "
            "(or AUTH_PUBLIC_KEY_FILE for development)"
        )
    return TokenVerifier(
        keys,
        issuer=settings.auth_issuer,
        audience=settings.auth_audience,
        leeway_seconds=settings.auth_leeway_s,
    )


def serve(app: Starlette, settings: EdgeSettings) -> None:
    """Serve until SIGTERM; in-flight requests get 10 s to finish."""
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        loop="uvloop",  # mesh/event_loop.py says why
        http="httptools",
        # uvicorn would otherwise rewrite the peer from X-Forwarded-For for a loopback peer; which proxies
        # are believed is the edge's own setting (TRUSTED_PROXIES, edge/client_address.py).
        proxy_headers=False,
        timeout_graceful_shutdown=10,
    )
