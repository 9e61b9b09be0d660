"""The demo site's signing keys, kept as a real host keeps them: a current key that signs, and the previous
ones still published in the JWKS for a while so tokens signed just before a rotation keep verifying.

The keys live in one JSON file (`keyring.json` in DEV_KEYS_DIR, default .local/dev-keys); the running demo
site rereads it when it changes, so a rotation needs no restart of anything:

    python -m demo.signing_keys rotate                     # new current key; the previous one stays published
    python -m demo.signing_keys rotate --keep-previous 0   # new current key; the old one is dropped at once
    python -m demo.signing_keys show                       # the public JWKS

The tests rotate with the same functions. `current.pub.pem` beside the file holds the current public key
for an edge that verifies with a static key file (AUTH_PUBLIC_KEY_FILE) instead of the JWKS.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mesh.auth import DEFAULT_AUDIENCE, DEFAULT_ISSUER, TokenSigner, public_jwk

KEYRING_FILE = "keyring.json"
PUBLIC_PEM_FILE = "current.pub.pem"
DEFAULT_DIR = Path(__file__).resolve().parent.parent / ".local" / "dev-keys"


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_pem: bytes

    def public_pem(self) -> bytes:
        key = serialization.load_pem_private_key(self.private_pem, password=None)
        return key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def jwk(self) -> dict[str, Any]:
        key = serialization.load_pem_private_key(self.private_pem, password=None)
        return public_jwk(key.public_key(), self.kid)


@dataclass(frozen=True)
class Keyring:
    """The keys, current first."""

    keys: tuple[SigningKey, ...]

    @property
    def current(self) -> SigningKey:
        return self.keys[0]

    def jwks(self) -> dict[str, Any]:
        """The public JWKS the site publishes at /.well-known/jwks.json."""
        return {"keys": [k.jwk() for k in self.keys]}

    def signer(self, *, issuer: str = DEFAULT_ISSUER, audience: str = DEFAULT_AUDIENCE) -> TokenSigner:
        return TokenSigner(self.current.private_pem, kid=self.current.kid, issuer=issuer, audience=audience)


def _new_key() -> SigningKey:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return SigningKey(kid=f"demo-{secrets.token_hex(6)}", private_pem=pem)


def _write(directory: Path, ring: Keyring) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    body = json.dumps({"keys": [{"kid": k.kid, "private_pem": k.private_pem.decode()} for k in ring.keys]})
    # Written whole then renamed, so the running site never reads half a file.
    tmp = directory / f".{KEYRING_FILE}.{os.getpid()}.tmp"
    tmp.write_text(body)
    tmp.chmod(0o600)
    public_tmp = directory / f".{PUBLIC_PEM_FILE}.{os.getpid()}.tmp"
    public_tmp.write_bytes(ring.current.public_pem())
    public_tmp.replace(directory / PUBLIC_PEM_FILE)
    tmp.replace(directory / KEYRING_FILE)


def read_keyring(directory: Path) -> Keyring | None:
    path = directory / KEYRING_FILE
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    keys = tuple(SigningKey(k["kid"], k["private_pem"].encode()) for k in document["keys"])
    return Keyring(keys) if keys else None


def load_or_create(directory: Path) -> Keyring:
    """The keyring in `directory`, created with one key on first use."""
    ring = read_keyring(directory)
    if ring is None:
        ring = Keyring((_new_key(),))
        _write(directory, ring)
    return ring


def rotate(directory: Path, *, keep_previous: int = 1) -> Keyring:
    """Make a new current key; keep the `keep_previous` most recent old keys published."""
    ring = load_or_create(directory)
    rotated = Keyring((_new_key(), *ring.keys[:keep_previous]))
    _write(directory, rotated)
    return rotated


def public_key_file(directory: Path) -> Path:
    """The current public key as PEM (for an edge with a static key file), created on first use."""
    load_or_create(directory)
    return directory / PUBLIC_PEM_FILE


class LiveKeyring:
    """The keyring as the running site sees it: reread whenever the file changes (a rotation)."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._ring = load_or_create(directory)
        self._stamp = self._file_stamp()

    def _file_stamp(self) -> tuple[int, int]:
        stat = (self._directory / KEYRING_FILE).stat()
        return stat.st_mtime_ns, stat.st_ino

    def now(self) -> Keyring:
        stamp = self._file_stamp()
        if stamp != self._stamp:
            self._ring = read_keyring(self._directory) or self._ring
            self._stamp = stamp
        return self._ring
