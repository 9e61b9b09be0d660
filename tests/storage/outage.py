"""Helpers for tests that stop a shared server: the local stack is shared by every test run on the machine,
and another run's `stack.sh start` may bring a server back while a test expects it down."""

from __future__ import annotations

import socket


def is_listening(address: str) -> bool:
    """True when something accepts TCP connections at host:port (or a mongodb:// / redis:// URL's host:port)."""
    hostport = address.split("://", 1)[-1].split("/", 1)[0].split("@")[-1]
    host, _, port = hostport.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=0.5):
            return True
    except OSError:
        return False


RESTARTED_ELSEWHERE = "another test run restarted the shared {} while this test needed it stopped"
