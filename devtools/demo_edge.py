"""`python -m devtools.demo_edge`: the edge with the demo task site mounted at `/`, for `./dev up` and tests.

The demo site plays the host website: it signs users' tokens with the local development key pair, which
this edge also verifies with. The production edge (`python -m edge`) knows nothing of either.
"""

from __future__ import annotations

from pathlib import Path

from starlette.routing import Mount

from demo.site import create_demo_app
from edge.app import create_app
from edge.server import configure_process, serve, verifier_for
from edge.settings import EdgeSettings
from mesh.auth import TokenSigner, load_or_create_dev_keypair
from mesh.config import load_settings

ROOT = Path(__file__).resolve().parent.parent


class DemoEdgeSettings(EdgeSettings):
    # Tokens are signed and verified with the development key pair kept here (created on first use).
    dev_keys_dir: Path = ROOT / ".local" / "dev-keys"
    auth_public_key_file: str = ""
    # The host site's task database (the local stack's); empty: the site shows data.json read-only.
    host_db_dsn: str = ""


def main() -> None:
    settings = load_settings(DemoEdgeSettings)
    configure_process(settings)
    private_pem, public_pem = load_or_create_dev_keypair(settings.dev_keys_dir)
    signer = TokenSigner(private_pem, issuer=settings.auth_issuer, audience=settings.auth_audience)
    app = create_app(
        settings,
        verifier_for(settings, public_pem),
        extra_routes=[
            Mount("/", app=create_demo_app(signer=signer, host_db_dsn=settings.host_db_dsn or None))
        ],
    )
    serve(app, settings)


if __name__ == "__main__":
    main()
