"""Run the edge: `python -m edge` (settings from the environment, see edge/settings.py).

The production edge serves the API, health and the widget bundle; it never serves the demo site (the
development launcher runs `devtools.demo_edge` for that).
"""

from __future__ import annotations

from edge.app import create_app
from edge.server import configure_process, serve, verifier_for
from edge.settings import EdgeSettings
from mesh.config import load_settings


def main() -> None:
    settings = load_settings(EdgeSettings)
    configure_process(settings)
    serve(create_app(settings, verifier_for(settings)), settings)


if __name__ == "__main__":
    main()
