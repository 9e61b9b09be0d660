"""Readiness probes, one attempt each, for every server this project starts locally.

The stack's servers (Redis PING, a Kafka Metadata answer naming a broker, a MongoDB `ping`, pg_isready) and
the mesh's processes (gRPC health, an HTTP health path) are all checked here, once. The stack's probes use
the standard library only (they run before the project's dependencies matter); the mesh's import grpc and
httpx when called.
"""

from __future__ import annotations

import socket
import struct
import subprocess
from pathlib import Path

_CONNECT_TIMEOUT_S = 3.0
_READ_TIMEOUT_S = 5.0


def _connect(host: str, port: int) -> socket.socket:
    sock = socket.create_connection((host, port), timeout=_CONNECT_TIMEOUT_S)
    sock.settimeout(_READ_TIMEOUT_S)
    return sock


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    buf = b""
    while len(buf) < size:
        chunk = sock.recv(size - len(buf))
        if not chunk:
            raise EOFError("connection closed")
        buf += chunk
    return buf


def tcp_open(host: str, port: int) -> bool:
    """Something accepts connections on the port (ours or not)."""
    try:
        with _connect(host, port):
            return True
    except OSError:
        return False


def redis_ready(host: str, port: int) -> bool:
    """Redis answers PING with PONG (a loading Redis answers -LOADING instead)."""
    try:
        with _connect(host, port) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(64).startswith(b"+PONG\r\n")
    except OSError:
        return False


KAFKA_PROBE_CORRELATION_ID = 42


def kafka_metadata_request(correlation_id: int = KAFKA_PROBE_CORRELATION_ID) -> bytes:
    """A size-prefixed Metadata v1 request for no topics: the answer still lists the brokers."""
    client = b"stack-probe"
    body = struct.pack(">hhih", 3, 1, correlation_id, len(client)) + client + struct.pack(">i", 0)
    return struct.pack(">i", len(body)) + body


def kafka_broker_count(response: bytes, correlation_id: int = KAFKA_PROBE_CORRELATION_ID) -> int:
    """Brokers a Metadata v1 response lists (its body, after the size); -1 for another request's answer."""
    corr, brokers = struct.unpack(">ii", response[:8])
    return int(brokers) if corr == correlation_id else -1


def kafka_ready(host: str, port: int) -> bool:
    """Kafka answers Metadata with at least one broker: true only once the broker is unfenced."""
    try:
        with _connect(host, port) as sock:
            sock.sendall(kafka_metadata_request())
            (size,) = struct.unpack(">i", _recv_exact(sock, 4))
            return kafka_broker_count(_recv_exact(sock, size)) >= 1
    except (OSError, EOFError, struct.error):
        return False


_OP_MSG = 2013


def mongo_ping_message() -> bytes:
    """An OP_MSG `{ping: 1, $db: "admin"}`, built by hand so the probe needs no driver."""

    def cstring(text: str) -> bytes:
        return text.encode() + b"\0"

    elements = b"\x10" + cstring("ping") + struct.pack("<i", 1)
    elements += b"\x02" + cstring("$db") + struct.pack("<i", len("admin") + 1) + cstring("admin")
    document = struct.pack("<i", 4 + len(elements) + 1) + elements + b"\0"
    message = struct.pack("<I", 0) + b"\x00" + document  # flag bits, section kind 0 (body)
    return struct.pack("<iiii", 16 + len(message), 1, 0, _OP_MSG) + message


def mongo_reply_ok(opcode: int, body: bytes) -> bool:
    """The reply is an OP_MSG whose document holds `ok: 1.0`."""
    return opcode == _OP_MSG and b"\x01ok\x00" + struct.pack("<d", 1.0) in body


def mongo_ready(host: str, port: int) -> bool:
    """The MongoDB wire server answers `ping` with ok: 1."""
    try:
        with _connect(host, port) as sock:
            sock.sendall(mongo_ping_message())
            length, _, _, opcode = struct.unpack("<iiii", _recv_exact(sock, 16))
            return mongo_reply_ok(opcode, _recv_exact(sock, length - 16))
    except (OSError, EOFError, struct.error):
        return False


def postgres_ready(bin_dir: Path, host: str, port: int, role: str) -> bool:
    """pg_isready: PostgreSQL accepts connections (not while it starts, recovers or shuts down)."""
    argv = [
        str(bin_dir / "pg_isready"),
        "-q",
        "-h",
        host,
        "-p",
        str(port),
        "-U",
        role,
        "-d",
        "postgres",
        "-t",
        "3",
    ]
    try:
        return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def http_ok(url: str, timeout_s: float = 0.5) -> bool:
    """The URL answers 200."""
    import httpx

    try:
        return httpx.get(url, timeout=timeout_s).status_code == 200
    except httpx.HTTPError:
        return False


def grpc_serving(address: str, timeout_s: float = 0.5, tls_dir: Path | None = None) -> bool:
    """The server's gRPC health service reports SERVING; over mutual TLS with the files in `tls_dir`."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from mesh.tls import TlsFiles

    if tls_dir is None:
        channel = grpc.insecure_channel(address)
    else:
        channel = grpc.secure_channel(address, TlsFiles(tls_dir).channel_credentials())
    with channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=timeout_s
            )
        except grpc.RpcError:
            return False
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
