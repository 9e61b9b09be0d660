"""Forged, stale and misdirected user tokens against the real edge, which verifies them with the demo
site's JWKS: each is a 401 with a message saying what is wrong, and nothing is stored for the user it
names. And a key rotation at the host is followed without restarting the edge.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pymongo import MongoClient

from demo.keyring import load_or_create, rotate
from mesh.auth import DEFAULT_AUDIENCE, DEFAULT_ISSUER, public_jwk
from tests.mesh_fixture import MeshUnderTest

pytestmark = pytest.mark.e2e


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(user_id: str, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "sub": user_id,
        "iss": DEFAULT_ISSUER,
        "aud": DEFAULT_AUDIENCE,
        "iat": now,
        "nbf": now,
        "exp": now + 300,
    }
    claims.update(changes)
    return claims


def _unsigned(header: dict[str, Any], claims: dict[str, Any], sign: Callable[[bytes], bytes]) -> str:
    """A token assembled by hand, as an attacker would (libraries refuse to make these)."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{_b64(sign(signing_input.encode()))}"


class _AttackerKeys:
    """A key pair of the attacker's and a JWKS server publishing it, counting who fetches it."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.kid = f"attacker-{uuid.uuid4().hex[:8]}"
        self.fetches = 0
        document = json.dumps({"keys": [public_jwk(self.key.public_key(), self.kid)]}).encode()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.fetches += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(document)

            def log_message(self, *_: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def sign(self, claims: dict[str, Any], **header: Any) -> str:
        return jwt.encode(claims, self.key, algorithm="ES256", headers={"kid": self.kid, **header})

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def attacker() -> Iterator[_AttackerKeys]:
    keys = _AttackerKeys()
    yield keys
    keys.close()


@pytest.fixture
def client(mesh_up: MeshUnderTest) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=mesh_up.edge_url, timeout=30) as c:
        yield c


def _stored_conversations(mesh_up: MeshUnderTest, user_id: str) -> int:
    with MongoClient[dict[str, Any]](mesh_up.mongo_uri, serverSelectionTimeoutMS=5000) as mongo:
        return int(mongo.get_default_database().conversations.count_documents({"user_id": user_id}))


def _create(client: httpx.Client, token: str) -> httpx.Response:
    return client.post("/v1/conversations", json={}, headers={"Authorization": f"Bearer {token}"})


def _current(mesh_up: MeshUnderTest) -> tuple[ec.EllipticCurvePrivateKey, str]:
    ring = load_or_create(mesh_up.keys_dir)
    key = serialization.load_pem_private_key(ring.current.private_pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key, ring.current.kid


def _site_key_token(mesh_up: MeshUnderTest, claims: dict[str, Any]) -> str:
    key, kid = _current(mesh_up)
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": kid})


def _alg_none(mesh_up: MeshUnderTest, user: str, _: _AttackerKeys) -> str:
    return _unsigned({"alg": "none", "typ": "JWT"}, _claims(user), lambda _: b"")


def _hs256_with_public_key(mesh_up: MeshUnderTest, user: str, _: _AttackerKeys) -> str:
    """The classic confusion: HMAC keyed with the (public) verification key, which anyone can download."""
    ring = load_or_create(mesh_up.keys_dir)
    secret = ring.current.public_pem()
    return _unsigned(
        {"alg": "HS256", "typ": "JWT", "kid": ring.current.kid},
        _claims(user),
        lambda data: hmac.new(secret, data, hashlib.sha256).digest(),
    )


def _expired(mesh_up: MeshUnderTest, user: str, _: _AttackerKeys) -> str:
    now = int(time.time())
    return _site_key_token(mesh_up, _claims(user, iat=now - 3600, nbf=now - 3600, exp=now - 300))


def _not_yet_valid(mesh_up: MeshUnderTest, user: str, _: _AttackerKeys) -> str:
    now = int(time.time())
    return _site_key_token(mesh_up, _claims(user, nbf=now + 600, exp=now + 900))


def _wrong_issuer(mesh_up: MeshUnderTest, user: str, _: _AttackerKeys) -> str:
    return _site_key_token(mesh_up, _claims(user, iss="https://evil.example"))


def _wrong_audience(mesh_up: MeshUnderTest, user: str, _: _AttackerKeys) -> str:
    return _site_key_token(mesh_up, _claims(user, aud="some-other-api"))


def _no_expiry(mesh_up: MeshUnderTest, user: str, _: _AttackerKeys) -> str:
    claims = _claims(user)
    del claims["exp"]
    return _site_key_token(mesh_up, claims)


def _unknown_kid(mesh_up: MeshUnderTest, user: str, attacker: _AttackerKeys) -> str:
    return attacker.sign(_claims(user))


def _jku_and_x5u_elsewhere(mesh_up: MeshUnderTest, user: str, attacker: _AttackerKeys) -> str:
    return attacker.sign(_claims(user), jku=attacker.url, x5u=attacker.url)


def _site_kid_attacker_key(mesh_up: MeshUnderTest, user: str, attacker: _AttackerKeys) -> str:
    """The site's kid in the header, the attacker's key (and its JWKS in jku) behind the signature."""
    _, kid = _current(mesh_up)
    return jwt.encode(
        _claims(user), attacker.key, algorithm="ES256", headers={"kid": kid, "jku": attacker.url}
    )


ATTACKS: dict[str, tuple[Callable[[MeshUnderTest, str, _AttackerKeys], str], str]] = {
    "alg none": (_alg_none, "signing algorithm (none) is not accepted"),
    "HS256 keyed with the public key": (_hs256_with_public_key, "signing algorithm (HS256) is not accepted"),
    "expired": (_expired, "the token has expired"),
    "not yet valid": (_not_yet_valid, "the token is not valid yet"),
    "wrong issuer": (_wrong_issuer, "issued by someone this service does not trust"),
    "wrong audience": (_wrong_audience, "meant for another service"),
    "no exp claim": (_no_expiry, "the token has no exp claim"),
    "unknown kid, key not in the JWKS": (_unknown_kid, "not one of the host's keys"),
    "jku/x5u pointing elsewhere": (_jku_and_x5u_elsewhere, "not one of the host's keys"),
    "site's kid, attacker's key": (_site_kid_attacker_key, "signature does not verify"),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_forged_or_misdirected_token_is_refused_and_stores_nothing(
    attack: str, client: httpx.Client, mesh_up: MeshUnderTest, attacker: _AttackerKeys
) -> None:
    make, message = ATTACKS[attack]
    user = f"victim-{uuid.uuid4().hex[:8]}"
    response = _create(client, make(mesh_up, user, attacker))
    print(f"\n[attack] {attack}: {response.status_code} {response.text}")
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "UNAUTHENTICATED"
    assert message in error["message"]
    assert _stored_conversations(mesh_up, user) == 0
    assert attacker.fetches == 0, "the edge never fetches keys from a place a token names"


def test_a_valid_token_for_the_same_kind_of_user_is_stored(
    client: httpx.Client, mesh_up: MeshUnderTest
) -> None:
    """The control for the attacks above: the same request with an honest token stores a conversation."""
    user = f"victim-{uuid.uuid4().hex[:8]}"
    response = _create(client, mesh_up.token(user))
    assert response.status_code == 200, response.text
    assert _stored_conversations(mesh_up, user) == 1


def _accepted_within(client: httpx.Client, token: str, timeout_s: float) -> httpx.Response:
    """Retry while the edge's JWKS refetch interval keeps it from seeing a new key (AUTH_JWKS_MIN_REFETCH_S)."""
    deadline = time.monotonic() + timeout_s
    while True:
        response = _create(client, token)
        if response.status_code == 200 or time.monotonic() > deadline:
            return response
        time.sleep(0.25)


def test_rotation_at_the_host_is_followed_without_restarting_the_edge(
    client: httpx.Client, mesh_up: MeshUnderTest
) -> None:
    edge_pid = mesh_up.mesh.processes["edge"].pid
    before = mesh_up.token("carol")
    assert _create(client, before).status_code == 200

    # A rotation that keeps the old key published: tokens signed just before still verify.
    rotate(mesh_up.keys_dir, keep_previous=1)
    fresh = mesh_up.token("carol")
    assert jwt.get_unverified_header(fresh)["kid"] != jwt.get_unverified_header(before)["kid"]
    accepted = _accepted_within(client, fresh, timeout_s=10)
    assert accepted.status_code == 200, accepted.text
    assert _create(client, before).status_code == 200

    # A rotation that drops the old key (a leaked key): once the edge has fetched the new set, the old
    # key's tokens are refused, though they are otherwise valid for another quarter of an hour.
    rotate(mesh_up.keys_dir, keep_previous=0)
    newest = mesh_up.token("carol")
    accepted = _accepted_within(client, newest, timeout_s=10)
    assert accepted.status_code == 200, accepted.text
    old_key = _create(client, fresh)
    print(f"\n[attack] token of a key the JWKS dropped: {old_key.status_code} {old_key.text}")
    assert old_key.status_code == 401
    assert "not one of the host's keys" in old_key.json()["error"]["message"]
    assert mesh_up.mesh.processes["edge"].pid == edge_pid, "the edge was not restarted"
