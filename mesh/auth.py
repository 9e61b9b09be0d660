"""Who is asking: short-lived JWTs signed by the host site and verified by the edge.

The host site signs a token for its signed-in user (subject = user id); the edge verifies it and passes
the user id to the coordinator in gRPC metadata (`USER_ID_METADATA_KEY`) over its mutually authenticated
channel (mesh/internal_identity.py). The edge finds the host's public keys in the host's JWKS
(`AUTH_JWKS_URL`), chosen by the token's `kid` and refetched when an unknown `kid` appears, so the host
can rotate its key without anyone restarting the edge. A static public key file stays for development.

What RFC 8725 asks and this module does: only asymmetric algorithms from an allowlist (so `none`, and an
HMAC keyed with the public key, never verify), the algorithm bound to the key rather than taken from the
token, `iss`, `aud`, `exp` and `sub` required, a small clock leeway, and header parameters that name
other keys (`jku`, `x5u`, `jwk`) never followed: keys come only from the configured place.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

USER_ID_METADATA_KEY = "assist-user-id"
DEFAULT_ISSUER = "assist-demo-site"
DEFAULT_AUDIENCE = "assist-edge"
# Asymmetric signatures only: a token must be signed by the holder of a private key.
ALLOWED_ALGORITHMS: frozenset[str] = frozenset(
    {"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA"}
)
DEFAULT_LEEWAY_S = 30


class AuthError(Exception):
    """The request carries no valid token; the message is safe to show to the client."""


class KeysUnavailable(Exception):
    """The host's keys cannot be fetched and the token's key is not among the cached ones: not the
    caller's fault, so the edge answers 503 rather than 401."""


@dataclass(frozen=True)
class Principal:
    """The verified caller."""

    user_id: str
    display_name: str


def public_jwk(public_key: Any, kid: str) -> dict[str, Any]:
    """A public key as a JWK with its `kid`, `alg` and `use`, as a JWKS lists it."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        jwk = ECAlgorithm.to_jwk(public_key, as_dict=True)
        alg = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}[public_key.curve.name]
    elif isinstance(public_key, rsa.RSAPublicKey):
        jwk, alg = RSAAlgorithm.to_jwk(public_key, as_dict=True), "RS256"
    elif isinstance(public_key, ed25519.Ed25519PublicKey):
        jwk, alg = OKPAlgorithm.to_jwk(public_key, as_dict=True), "EdDSA"
    else:
        raise TypeError(f"unsupported public key type {type(public_key).__name__}")
    return {**jwk, "kid": kid, "alg": alg, "use": "sig"}


def _usable(jwk: jwt.PyJWK) -> bool:
    return jwk.algorithm_name in ALLOWED_ALGORITHMS


class KeySource(Protocol):
    """Where the verifier finds the public key for a token's `kid`."""

    async def key_for(self, kid: str | None) -> jwt.PyJWK: ...

    async def aclose(self) -> None: ...


class StaticKey:
    """One public key from a PEM file (development): every token is checked against it, whatever its kid."""

    def __init__(self, public_key_pem: bytes) -> None:
        key = serialization.load_pem_public_key(public_key_pem)
        self._jwk = jwt.PyJWK.from_dict(public_jwk(key, "static"))

    async def key_for(self, kid: str | None) -> jwt.PyJWK:
        return self._jwk

    async def aclose(self) -> None:
        return None


class JwksKeys:
    """The host's JWKS, fetched over HTTP and cached by `kid`.

    An unknown `kid` triggers a refetch, but at most one fetch starts per `min_refetch_s` (and concurrent
    requests share it), so a flood of tokens with made-up kids costs the host one request every few
    seconds. The whole set is replaced on each fetch: a key the host dropped stops verifying as soon as
    the edge has fetched again (at the latest after `cache_s`). When a fetch fails, the cached keys go
    on verifying; a token whose key is not cached is then KeysUnavailable.
    """

    def __init__(
        self,
        url: str,
        *,
        cache_s: float = 300.0,
        min_refetch_s: float = 5.0,
        timeout_s: float = 3.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._url = url
        self._cache_s = cache_s
        self._min_refetch_s = min_refetch_s
        self._client = client or httpx.AsyncClient(timeout=timeout_s, follow_redirects=False)
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None  # the last successful fetch
        self._attempted_at: float | None = None  # the last attempt, successful or not
        self._last_error = ""
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def key_for(self, kid: str | None) -> jwt.PyJWK:
        if not kid:
            raise AuthError("the token names no signing key (kid header)")
        if kid not in self._keys or self._stale():
            await self._refetch()
        try:
            return self._keys[kid]
        except KeyError:
            if self._fetched_at is None:
                raise KeysUnavailable(f"the host's keys cannot be fetched: {self._last_error}") from None
            raise AuthError("the token's signing key is not one of the host's keys") from None

    def _stale(self) -> bool:
        return self._fetched_at is None or time.monotonic() - self._fetched_at > self._cache_s

    async def _refetch(self) -> None:
        started = time.monotonic()
        async with self._lock:
            # Another request fetched while this one waited, or one fetched a moment ago: use that.
            if self._attempted_at is not None and (
                self._attempted_at >= started or started - self._attempted_at < self._min_refetch_s
            ):
                return
            self._attempted_at = time.monotonic()
            self.fetches += 1
            try:
                response = await self._client.get(self._url, headers={"Accept": "application/json"})
                response.raise_for_status()
                keys = _parse_jwks(response.json())
            except (httpx.HTTPError, ValueError, jwt.PyJWTError) as exc:
                self._last_error = str(exc) or type(exc).__name__
                return
            self._keys = keys
            self._fetched_at = time.monotonic()

    async def aclose(self) -> None:
        await self._client.aclose()


def _parse_jwks(document: Mapping[str, Any]) -> dict[str, jwt.PyJWK]:
    """The usable keys of a JWKS by kid: keys without a kid, or for an algorithm not allowed, are left out."""
    if not isinstance(document, Mapping):
        raise ValueError("the JWKS is not a JSON object")
    keys: dict[str, jwt.PyJWK] = {}
    for jwk in jwt.PyJWKSet.from_dict(dict(document)).keys:
        if jwk.key_id and _usable(jwk) and jwk.public_key_use in (None, "sig"):
            keys[jwk.key_id] = jwk
    return keys


# Messages for each way a token fails, most specific first; what the client sees in the 401.
_MESSAGES: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
    (jwt.ExpiredSignatureError, "the token has expired; sign in again"),
    (jwt.ImmatureSignatureError, "the token is not valid yet"),
    (jwt.InvalidIssuerError, "the token was issued by someone this service does not trust"),
    (jwt.InvalidAudienceError, "the token is meant for another service"),
    (jwt.InvalidAlgorithmError, "the token's signing algorithm is not accepted"),
    (jwt.InvalidSignatureError, "the token's signature does not verify"),
)


class TokenVerifier:
    """Verifies user tokens: algorithm, signature, issuer, audience, expiry and a non-empty subject."""

    def __init__(
        self,
        keys: KeySource,
        *,
        issuer: str = DEFAULT_ISSUER,
        audience: str = DEFAULT_AUDIENCE,
        leeway_seconds: int = DEFAULT_LEEWAY_S,
    ) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway_seconds

    async def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise AuthError("the token is malformed") from exc
        algorithm = header.get("alg")
        # Checked before any key is looked up, so `none` and HMAC tokens cost no JWKS fetch.
        if algorithm not in ALLOWED_ALGORITHMS:
            raise AuthError(f"the token's signing algorithm ({algorithm}) is not accepted")
        kid = header.get("kid")
        key = await self._keys.key_for(kid if isinstance(kid, str) else None)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[key.algorithm_name],
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway,
                options={"require": ["sub", "exp", "iat", "iss", "aud"]},
            )
        except jwt.MissingRequiredClaimError as exc:
            raise AuthError(f"the token has no {exc.claim} claim") from exc
        except jwt.PyJWTError as exc:
            message = next((m for kind, m in _MESSAGES if isinstance(exc, kind)), "the token is not valid")
            raise AuthError(message) from exc
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject.strip():
            raise AuthError("the token names no user")
        name = claims.get("name")
        return Principal(user_id=subject, display_name=name if isinstance(name, str) else "")

    async def verify_authorization_header(self, header: str | None) -> Principal:
        """Verify an `Authorization: Bearer <token>` header value."""
        if not header:
            raise AuthError("missing Authorization header (expected 'Bearer <token>')")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("the Authorization header must be 'Bearer <token>'")
        return await self.verify(token.strip())

    async def aclose(self) -> None:
        await self._keys.aclose()


class TokenSigner:
    """Signs short-lived user tokens, as the host site does (ES256 with a P-256 key, the `kid` in the header)."""

    def __init__(
        self,
        private_key_pem: bytes,
        *,
        kid: str | None = None,
        issuer: str = DEFAULT_ISSUER,
        audience: str = DEFAULT_AUDIENCE,
        ttl_seconds: int = 900,
    ) -> None:
        self._key = serialization.load_pem_private_key(private_key_pem, password=None)
        self.kid = kid
        self._issuer = issuer
        self._audience = audience
        self._ttl = ttl_seconds

    def sign(self, user_id: str, display_name: str = "", *, now: float | None = None) -> str:
        issued = int(now if now is not None else time.time())
        claims = {
            "sub": user_id,
            "name": display_name,
            "iss": self._issuer,
            "aud": self._audience,
            "iat": issued,
            "nbf": issued,
            "exp": issued + self._ttl,
        }
        headers = {"kid": self.kid} if self.kid else None
        return jwt.encode(claims, self._key, algorithm="ES256", headers=headers)  # type: ignore[arg-type]
