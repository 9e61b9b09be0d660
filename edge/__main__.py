"""Run the edge: `python -m edge` (settings from the environment, see edge/settings.py)."""

from __future__ import annotations

from pathlib import Path

import uvicorn
from starlette.routing import BaseRoute, Mount

from edge.app import create_app
from edge.settings import EdgeSettings
from mesh.auth import TokenSigner, TokenVerifier, load_or_create_dev_keypair
from mesh.config import load_settings
from mesh.logs import configure_logging
from mesh.telemetry import configure_telemetry


def main() -> None:
    settings = load_settings(EdgeSettings)
    configure_logging(settings.service_name, settings.log_level)
    configure_telemetry(settings, grpc_server=False, grpc_client=True)
    if settings.auth_public_key_file:
        public_pem = Path(settings.auth_public_key_file).read_bytes()
        private_pem = None
    else:
        private_pem, public_pem = load_or_create_dev_keypair(settings.dev_keys_dir)
    verifier = TokenVerifier(public_pem, issuer=settings.auth_issuer, audience=settings.auth_audience)
    extra: list[BaseRoute] = []
    if settings.demo_site:
        if private_pem is None:
            raise SystemExit("DEMO_SITE needs the local development key pair; unset AUTH_PUBLIC_KEY_FILE")
        from demo.site import create_demo_app

        signer = TokenSigner(private_pem, issuer=settings.auth_issuer, audience=settings.auth_audience)
        extra.append(Mount("/", app=create_demo_app(signer=signer)))
    app = create_app(settings, verifier, extra_routes=extra)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
