"""Mutual TLS for the coordinator's gRPC API: the files, the credentials, and who a peer's certificate names.

A TLS directory (MESH_TLS_DIR) holds `ca.crt`, `tls.crt` and `tls.key`, the layout of a cert-manager
Secret, so Helm mounts a Secret there and the development launcher writes the same files. An identity is
the certificate's URI SAN `spiffe://assist/<name>` (else its common name): what the internal clients
policy names (mesh/internal_identity.py).

Locally `ensure_dev_pki` makes a CA and one certificate per identity with `cryptography`, under
`.local/tls` for `./dev up` and a temporary directory for the tests. The CA's key stays in `ca/`; each
identity's directory gets only the CA certificate and its own pair.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mesh.retry_policy import channel_options, service_config

SPIFFE_PREFIX = "spiffe://assist/"
CA_FILE, CERT_FILE, KEY_FILE = "ca.crt", "tls.crt", "tls.key"
# Who gets a certificate in development: the coordinator serves with its own; the others are its clients
# (ops/internal-clients.yaml says what each may do).
DEV_SERVER = "coordinator"
DEV_CLIENTS: tuple[str, ...] = ("edge", "assist-cli", "probe", "helpdesk", "reporting", "bench")
_VALIDITY = dt.timedelta(days=365)
# The names the coordinator's development certificate answers to (the launcher dials 127.0.0.1).
_SERVER_DNS = ("localhost", "coordinator")


class TlsFiles:
    """The three files of a TLS directory, read once."""

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)
        try:
            self.ca = (self.directory / CA_FILE).read_bytes()
            self.cert = (self.directory / CERT_FILE).read_bytes()
            self.key = (self.directory / KEY_FILE).read_bytes()
        except OSError as exc:
            raise FileNotFoundError(
                f"TLS directory {self.directory}: {exc.filename}: {exc.strerror} "
                f"(expected {CA_FILE}, {CERT_FILE}, {KEY_FILE})"
            ) from None

    def server_credentials(self) -> grpc.ServerCredentials:
        """Serve with our certificate and require a client certificate signed by the CA."""
        return grpc.ssl_server_credentials(
            [(self.key, self.cert)], root_certificates=self.ca, require_client_auth=True
        )

    def channel_credentials(self) -> grpc.ChannelCredentials:
        """Verify the server against the CA and present our certificate."""
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca, private_key=self.key, certificate_chain=self.cert
        )


# The coordinator's RPCs that may be sent twice: reads, replaces by id, and Converse (deduped by
# client_message_id). CreateConversation and RecordStudyEvents are not: a resend would add a second one.
COORDINATOR_RETRIED_METHODS = frozenset(
    f"/assist.v1.CoordinatorService/{m}"
    for m in (
        "GetWidgetConfig",
        "Converse",
        "ListConversations",
        "ListMessages",
        "SubmitFeedback",
        "SubmitSatisfaction",
    )
)


def coordinator_target(addresses: str) -> str:
    """A gRPC target for COORDINATOR_ADDR: one `host:port`, a gRPC URI (`dns:///coordinator:50051`,
    `ipv4:10.0.0.1:50051,10.0.0.2:50051`), or several `host:port` separated by commas (replicas)."""
    parts = [p.strip() for p in addresses.split(",") if p.strip()]
    if len(parts) <= 1 or ":/" in addresses or addresses.startswith(("ipv4:", "ipv6:")):
        return addresses.strip()
    return "ipv4:" + ",".join(parts)


def coordinator_channel(
    address: str,
    tls_dir: Path | str | None,
    *,
    interceptors: Sequence[grpc.aio.ClientInterceptor] | None = None,
    server_name: str | None = None,
) -> grpc.aio.Channel:
    """A channel to the coordinator: mutual TLS with the files in `tls_dir`, plaintext when it is None.

    `address` may name several replicas (`coordinator_target`): calls are balanced round robin over the
    healthy ones, and a call refused UNAVAILABLE before it started (a replica stopping) is sent again,
    under a retry budget (mesh/retry_policy.py). `server_name` is the name the coordinator's certificate
    must carry when the target does not say it (several addresses, or a headless Service's DNS name).
    """
    options = channel_options(service_config(COORDINATOR_RETRIED_METHODS, round_robin=True))
    target = coordinator_target(address)
    if tls_dir is None:
        return grpc.aio.insecure_channel(target, options=options, interceptors=interceptors)
    if server_name:
        options += [("grpc.ssl_target_name_override", server_name), ("grpc.default_authority", server_name)]
    return grpc.aio.secure_channel(
        target, TlsFiles(tls_dir).channel_credentials(), options=options, interceptors=interceptors
    )


@lru_cache(maxsize=256)
def identity_of_certificate(pem: bytes) -> str | None:
    """The identity a certificate names: its `spiffe://assist/<name>` URI SAN, else its common name."""
    cert = x509.load_pem_x509_certificate(pem)
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        for uri in sans.get_values_for_type(x509.UniformResourceIdentifier):
            if uri.startswith(SPIFFE_PREFIX) and len(uri) > len(SPIFFE_PREFIX):
                return uri[len(SPIFFE_PREFIX) :]
    except x509.ExtensionNotFound:
        pass
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    value = names[0].value if names else None
    return value if isinstance(value, str) and value else None


def peer_identity(context: grpc.aio.ServicerContext) -> str | None:
    """The identity in the verified client certificate of this call; None over plaintext.

    gRPC has checked the certificate against the CA during the handshake (the server requires one), so
    what it names can be believed.
    """
    auth = context.auth_context() or {}
    pems = auth.get("x509_pem_cert") or []
    if not pems:
        return None
    pem = pems[0]
    return identity_of_certificate(pem if isinstance(pem, bytes) else str(pem).encode())


# --- development PKI -------------------------------------------------------------------------------------


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.chmod(0o600)
    tmp.replace(path)


def _write_public(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def _still_valid(path: Path) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return False
    return cert.not_valid_after_utc - dt.datetime.now(dt.UTC) > dt.timedelta(days=7)


def _ca(root: Path, label: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    ca_dir = root / "ca"
    cert_path, key_path = ca_dir / CA_FILE, ca_dir / "ca.key"
    if _still_valid(cert_path) and key_path.exists():
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return key, x509.load_pem_x509_certificate(cert_path.read_bytes())
    ca_dir.mkdir(parents=True, exist_ok=True)
    key = _key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, label)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_private(key_path, _pem_key(key))
    _write_public(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return key, cert


def _issue(
    ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate, name: str, *, server: bool
) -> tuple[bytes, bytes]:
    key = _key()
    now = dt.datetime.now(dt.UTC)
    sans: list[x509.GeneralName] = [x509.UniformResourceIdentifier(f"{SPIFFE_PREFIX}{name}")]
    if server:
        sans += [x509.DNSName(d) for d in _SERVER_DNS]
        sans += [
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1")),
        ]
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM), _pem_key(key)


def ensure_dev_pki(
    root: Path,
    *,
    server: str = DEV_SERVER,
    clients: Iterable[str] = DEV_CLIENTS,
    label: str = "Assist development CA",
) -> Path:
    """Make (once) a CA under `root/ca` and a TLS directory `root/<name>` for the server and each client.

    Existing certificates are kept while they are valid for another week, so processes already running
    with them are not disturbed. Returns `root`.
    """
    ca_key, ca_cert = _ca(root, label)
    ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM)
    for name, is_server in ((server, True), *((c, False) for c in clients)):
        directory = root / name
        current = directory / CA_FILE
        if _still_valid(directory / CERT_FILE) and current.exists() and current.read_bytes() == ca_pem:
            continue
        directory.mkdir(parents=True, exist_ok=True)
        cert, key = _issue(ca_key, ca_cert, name, server=is_server)
        _write_public(directory / CA_FILE, ca_pem)
        _write_private(directory / KEY_FILE, key)
        _write_public(directory / CERT_FILE, cert)
    return root
