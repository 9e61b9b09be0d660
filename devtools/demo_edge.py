"""`python -m devtools.demo_edge`: the edge with the demo task site mounted at `/`, for `./dev up` and tests.

The demo site plays the host website: it signs users' tokens with its keyring (demo/keyring.py) and
publishes the public keys at `/.well-known/jwks.json`, which this edge fetches like any host's JWKS
(AUTH_JWKS_URL, by default its own address), so a key rotation (`python -m demo.signing_keys rotate`) is picked
up without a restart. The production edge (`python -m edge`) knows nothing of the demo.
"""

from __future__ import annotations

from pathlib import Path

from starlette.routing import Mount

from demo.keyring import LiveKeyring
from demo.site import create_demo_app
from edge.app import create_app
from edge.server import configure_process, serve, verifier_for
from edge.settings import EdgeSettings
from mesh.config import load_settings

ROOT = Path(__file__).resolve().parent.parent


class DemoEdgeSettings(EdgeSettings):
    # The demo site's signing keys (created on first use).
    dev_keys_dir: Path = ROOT / ".local" / "dev-keys"
    # The host site's task database (the local stack's); empty: the site shows data.json read-only.
    host_db_dsn: str = ""


def main() -> None:
    settings = load_settings(DemoEdgeSettings)
    if not settings.auth_jwks_url and not settings.auth_public_key_file:
        own = f"http://127.0.0.1:{settings.port}/.well-known/jwks.json"
        settings = settings.model_copy(update={"auth_jwks_url": own})
    configure_process(settings)
    site = create_demo_app(
        keys=LiveKeyring(settings.dev_keys_dir),
        issuer=settings.auth_issuer,
        audience=settings.auth_audience,
        host_db_dsn=settings.host_db_dsn or None,
    )
    app = create_app(settings, verifier_for(settings), extra_routes=[Mount("/", app=site)])
    serve(app, settings)


if __name__ == "__main__":
    main()
