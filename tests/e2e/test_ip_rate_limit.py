"""The per-IP request limit: one bucket per client address in Redis, shared by every edge replica, and
X-Forwarded-For believed only from a configured trusted proxy. Two (then a third) real edge processes in
front of the running mesh, all on the mesh's Redis."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.edge_process import extra_edge
from tests.mesh_fixture import MeshUnderTest, own_redis_url

pytestmark = pytest.mark.e2e

# Three requests per address, then one more every 100 s: the fourth inside a test is always over.
STRICT = {"IP_RATE_BURST": "3", "IP_RATE_PER_S": "0.01"}
# The strict edges keep their buckets in a Redis database of their own (OWN_REDIS_DB): the mesh's edge (and
# any other process of the stack) counts 127.0.0.1 in database 0 with a huge allowance, refilling that bucket.


@pytest.fixture
def strict(mesh_up: MeshUnderTest) -> dict[str, str]:
    """The strict edges' settings, on a Redis database where the loopback address starts with a full bucket."""
    return {**STRICT, "REDIS_URL": own_redis_url(mesh_up.mesh.env["REDIS_URL"], "ip-limit")}


def _documentation_address() -> str:
    """A fresh address (RFC 3849 documentation range) so reruns never share a bucket."""
    return f"2001:db8::{random.randrange(1, 0xFFFF):x}:{random.randrange(1, 0xFFFF):x}"


@pytest.fixture
def replicas_behind_a_proxy(mesh_up: MeshUnderTest, strict: dict[str, str]) -> Iterator[tuple[str, str]]:
    """Two edges that trust the loopback address as their load balancer."""
    behind = {**strict, "TRUSTED_PROXIES": "127.0.0.0/8"}
    with extra_edge(mesh_up, "edge-ip-a", behind) as a, extra_edge(mesh_up, "edge-ip-b", behind) as b:
        yield a, b


def _list(url: str, headers: dict[str, str], forwarded_for: str | None = None) -> httpx.Response:
    extra = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return httpx.get(f"{url}/v1/conversations", headers={**headers, **extra}, timeout=10)


def test_one_address_shares_its_allowance_across_edge_replicas_and_gets_429_with_retry_after(
    replicas_behind_a_proxy: tuple[str, str], mesh_up: MeshUnderTest
) -> None:
    a, b = replicas_behind_a_proxy
    client_ip = _documentation_address()
    headers = mesh_up.auth(f"ip-{uuid.uuid4().hex[:8]}")
    statuses = [_list(url, headers, f"{client_ip}, 127.0.0.1").status_code for url in (a, b, a)]
    assert statuses == [200, 200, 200]
    limited = _list(b, headers, client_ip)
    assert limited.status_code == 429, "the fourth request, on the other replica, is over the shared limit"
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.json()["error"] == {
        "code": "RESOURCE_EXHAUSTED",
        "message": "too many requests from your network; wait a moment and try again",
        "retryable": True,
    }
    # Without a token too: the address is counted before the token is checked.
    assert _list(a, {}, client_ip).status_code == 429
    # Another address behind the same proxy has its own allowance.
    assert _list(a, headers, _documentation_address()).status_code == 200


def test_forwarded_for_from_an_untrusted_peer_cannot_choose_the_bucket(
    mesh_up: MeshUnderTest, strict: dict[str, str]
) -> None:
    """An edge trusting no proxy counts the peer itself, whatever X-Forwarded-For claims; a client that
    prepends addresses to a trusted proxy's header gets no fresh bucket either."""
    headers = mesh_up.auth(f"ip-{uuid.uuid4().hex[:8]}")
    untrusting = {**strict, "TRUSTED_PROXIES": "192.0.2.1"}
    with extra_edge(mesh_up, "edge-ip-direct", untrusting) as url:
        # Four fresh addresses claimed, one peer (127.0.0.1) counted: at most three get through.
        statuses = [_list(url, headers, _documentation_address()).status_code for _ in range(4)]
    assert statuses[-1] == 429, statuses
    with extra_edge(mesh_up, "edge-ip-proxied", {**strict, "TRUSTED_PROXIES": "127.0.0.0/8"}) as url:
        real = _documentation_address()
        spoofed = [_list(url, headers, f"{_documentation_address()}, {real}").status_code for _ in range(4)]
    assert spoofed == [200, 200, 200, 429], "the hop the proxy saw is counted, not the client's claim"
