"""The edge's view of the host's JWKS (mesh/auth.py JwksKeys), against a small host app served in-process:
keys by kid, a refetch on an unknown kid at most once per interval, unusable keys left out, and the cached
keys kept while the host cannot be reached."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mesh.auth import AuthError, JwksKeys, KeysUnavailable, TokenVerifier, public_jwk


class Host:
    """A host publishing a JWKS it can change, counting fetches; `down` makes it answer 503."""

    def __init__(self) -> None:
        self.keys: dict[str, ec.EllipticCurvePrivateKey] = {}
        self.extra: list[dict[str, Any]] = []
        self.fetches = 0
        self.down = False

    def add_key(self, kid: str) -> ec.EllipticCurvePrivateKey:
        self.keys[kid] = ec.generate_private_key(ec.SECP256R1())
        return self.keys[kid]

    async def jwks(self, _: Request) -> Response:
        self.fetches += 1
        if self.down:
            return JSONResponse({"error": "maintenance"}, status_code=503)
        published = [public_jwk(key.public_key(), kid) for kid, key in self.keys.items()]
        return JSONResponse({"keys": published + self.extra})

    def token(self, kid: str, user: str = "carol") -> str:
        claims = {"sub": user, "iss": "host", "aud": "edge", "iat": 0, "exp": 2**31}
        return jwt.encode(claims, self.keys[kid], algorithm="ES256", headers={"kid": kid})


@pytest.fixture
def host() -> Host:
    return Host()


def _verifier(host: Host, *, min_refetch_s: float) -> tuple[TokenVerifier, JwksKeys]:
    app = Starlette(routes=[Route("/jwks.json", host.jwks)])
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://host")
    keys = JwksKeys("http://host/jwks.json", min_refetch_s=min_refetch_s, client=client)
    return TokenVerifier(keys, issuer="host", audience="edge"), keys


async def test_unknown_kids_cost_the_host_one_fetch_per_interval(host: Host) -> None:
    host.add_key("k1")
    verifier, keys = _verifier(host, min_refetch_s=60)
    assert (await verifier.verify(host.token("k1"))).user_id == "carol"
    assert host.fetches == 1
    stranger = ec.generate_private_key(ec.SECP256R1())
    forged = [
        jwt.encode(
            {"sub": "x", "iss": "host", "aud": "edge", "iat": 0, "exp": 2**31},
            stranger,
            "ES256",
            {"kid": f"made-up-{i}"},
        )
        for i in range(20)
    ]
    results = await asyncio.gather(*(verifier.verify(t) for t in forged), return_exceptions=True)
    assert all(isinstance(r, AuthError) for r in results)
    assert host.fetches == 1, "inside the interval an unknown kid is refused without asking the host"
    await keys.aclose()


async def test_a_new_key_is_fetched_once_the_interval_has_passed(host: Host) -> None:
    host.add_key("k1")
    verifier, keys = _verifier(host, min_refetch_s=0.2)
    await verifier.verify(host.token("k1"))
    host.add_key("k2")
    await asyncio.sleep(0.25)
    tokens = [host.token("k2", user=f"u{i}") for i in range(5)]
    principals = await asyncio.gather(*(verifier.verify(t) for t in tokens))
    assert [p.user_id for p in principals] == [f"u{i}" for i in range(5)]
    assert host.fetches == 2, "concurrent requests for the new kid share one fetch"
    await keys.aclose()


async def test_symmetric_keys_in_the_jwks_are_never_used(host: Host) -> None:
    host.extra.append(
        {
            "kty": "oct",
            "kid": "shared",
            "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldC0xMjM0NTY",
            "alg": "HS256",
        }
    )
    host.add_key("k1")
    verifier, keys = _verifier(host, min_refetch_s=0)
    token = jwt.encode(
        {"sub": "x", "iss": "host", "aud": "edge", "iat": 0, "exp": 2**31},
        "secret-secret-secret-secret-secret-123456",
        "HS256",
        {"kid": "shared"},
    )
    with pytest.raises(AuthError, match=r"algorithm \(HS256\) is not accepted"):
        await verifier.verify(token)
    with pytest.raises(AuthError, match="not one of the host's keys"):
        await keys.key_for("shared")
    await keys.aclose()


async def test_while_the_host_is_down_cached_keys_verify_and_others_are_unavailable(host: Host) -> None:
    host.add_key("k1")
    verifier, keys = _verifier(host, min_refetch_s=0)
    await verifier.verify(host.token("k1"))
    host.down = True
    host.add_key("k2")
    assert (await verifier.verify(host.token("k1"))).user_id == "carol"
    with pytest.raises(AuthError):
        await verifier.verify(host.token("k2"))
    fresh_verifier, fresh_keys = _verifier(host, min_refetch_s=0)
    with pytest.raises(KeysUnavailable):
        await fresh_verifier.verify(host.token("k1"))
    await keys.aclose()
    await fresh_keys.aclose()
