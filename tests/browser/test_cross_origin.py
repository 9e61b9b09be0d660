"""CORS only for the configured origins (ASVS V14), in real browsers: a page on another origin calls the
edge's API with the Authorization header (which needs a preflight). From the configured origin the call
works; from any other origin the browser blocks it. An edge of its own with CORS_ORIGINS set, in front of
the running mesh; the two pages are served from two more loopback ports (two origins)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.browser.browser_engines import Page
from tests.edge_process import extra_edge
from tests.mesh_fixture import MeshUnderTest

FETCH = """
const [url, token] = arguments;
return fetch(url, {headers: {Authorization: 'Bearer ' + token}})
  .then((r) => r.json().then((body) => 'status ' + r.status + (body.error ? ' ' + body.error.code : '')))
  .catch((e) => 'blocked: ' + e.name);
"""


class _Blank(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<!doctype html><title>another site</title><p>another site</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture(scope="module")
def two_sites() -> Iterator[tuple[str, str]]:
    """Two origins serving a blank page: the first will be allowed, the second not."""
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), _Blank) for _ in range(2)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield tuple(f"http://127.0.0.1:{s.server_address[1]}" for s in servers)  # type: ignore[misc]
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def cors_edge(mesh_up: MeshUnderTest, two_sites: tuple[str, str]) -> Iterator[str]:
    allowed, _ = two_sites
    with extra_edge(mesh_up, "edge-cors", {"CORS_ORIGINS": allowed}) as url:
        yield url


def test_preflight_for_the_authorization_header_is_granted_only_to_the_configured_origin(
    cors_edge: str, two_sites: tuple[str, str]
) -> None:
    allowed, other = two_sites
    asked = {"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"}
    granted = httpx.options(f"{cors_edge}/v1/conversations", headers={"Origin": allowed, **asked})
    assert granted.status_code == 200
    assert granted.headers["access-control-allow-origin"] == allowed
    assert "authorization" in granted.headers["access-control-allow-headers"].lower()
    refused = httpx.options(f"{cors_edge}/v1/conversations", headers={"Origin": other, **asked})
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers


def test_a_page_on_the_configured_origin_can_call_the_api_and_one_on_another_origin_cannot(
    tab: Page, cors_edge: str, two_sites: tuple[str, str], mesh_up: MeshUnderTest
) -> None:
    allowed, other = two_sites
    token = mesh_up.token("cors-user")
    tab.goto(f"{allowed}/")
    assert tab.js(FETCH, f"{cors_edge}/v1/conversations", token) == "status 200"
    tab.goto(f"{other}/")
    assert tab.js(FETCH, f"{cors_edge}/v1/conversations", token) == "blocked: TypeError"
