"""Who is asking: short-lived JWTs signed by the host site and verified by the edge.

The host site signs a token for its signed-in user (subject = user id); the edge verifies it and passes
the user id to the coordinator in gRPC metadata (`USER_ID_METADATA_KEY`). Locally the demo site plays the
host with a development key pair kept under `.local/dev-keys/`. Only ES256 is accepted, so a token signed
with `none` or with the public key as an HMAC secret is rejected.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

USER_ID_METADATA_KEY = "assist-user-id"
ALGORITHM = "ES256"
DEFAULT_ISSUER = "assist-demo-site"
DEFAULT_AUDIENCE = "assist-edge"


class AuthError(Exception):
    """The request carries no valid token; the message is safe to show to the client."""


@dataclass(frozen=True)
class Principal:
    """The verified caller."""

    user_id: str
    display_name: str


def dev_public_key_file(directory: Path) -> Path:
    """The public half of the development key pair in `directory`, created on first use."""
    load_or_create_dev_keypair(directory)
    return directory / "dev-signing-key.pub.pem"


def load_or_create_dev_keypair(directory: Path) -> tuple[bytes, bytes]:
    """Return (private PEM, public PEM) from directory, creating a new P-256 pair on first use."""
    private_path = directory / "dev-signing-key.pem"
    public_path = directory / "dev-signing-key.pub.pem"
    if not private_path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        private_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        public_pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        tmp = private_path.with_suffix(".tmp")
        tmp.write_bytes(private_pem)
        tmp.chmod(0o600)
        public_path.write_bytes(public_pem)
        tmp.replace(private_path)
    return private_path.read_bytes(), public_path.read_bytes()


class TokenSigner:
    """Signs short-lived user tokens, as the host site does."""

    def __init__(
        self,
        private_key_pem: bytes,
        *,
        issuer: str = DEFAULT_ISSUER,
        audience: str = DEFAULT_AUDIENCE,
        ttl_seconds: int = 900,
    ) -> None:
        self._key = serialization.load_pem_private_key(private_key_pem, password=None)
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
        return jwt.encode(claims, self._key, algorithm=ALGORITHM)  # type: ignore[arg-type]


class TokenVerifier:
    """Verifies user tokens: signature, algorithm, issuer, audience, expiry and a non-empty subject."""

    def __init__(
        self,
        public_key_pem: bytes,
        *,
        issuer: str = DEFAULT_ISSUER,
        audience: str = DEFAULT_AUDIENCE,
        leeway_seconds: int = 30,
    ) -> None:
        self._key = serialization.load_pem_public_key(public_key_pem)
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway_seconds

    def verify(self, token: str) -> Principal:
        try:
            claims = jwt.decode(
                token,
                self._key,  # type: ignore[arg-type]
                algorithms=[ALGORITHM],
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway,
                options={"require": ["sub", "exp", "iat", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthError("the token has expired; sign in again") from exc
        except jwt.PyJWTError as exc:
            raise AuthError("the token is not valid") from exc
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject.strip():
            raise AuthError("the token names no user")
        name = claims.get("name")
        return Principal(user_id=subject, display_name=name if isinstance(name, str) else "")

    def verify_authorization_header(self, header: str | None) -> Principal:
        """Verify an `Authorization: Bearer <token>` header value."""
        if not header:
            raise AuthError("missing Authorization header (expected 'Bearer <token>')")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("the Authorization header must be 'Bearer <token>'")
        return self.verify(token.strip())
