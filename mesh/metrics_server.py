"""The /metrics endpoint of a process: prometheus_client's WSGI app on a server that sleeps until a scrape.

Why not `prometheus_client.start_http_server`: it runs `socketserver.serve_forever()`, whose select times
out every 0.5 s to check for a shutdown request, so each of the mesh's processes woke twice a second for
nothing (issue 8: the whole stack idle under 2% of a core). Here the thread blocks in `handle_request()`
with no timeout: it wakes only when a connection arrives. `close()` sets a flag and connects once to
wake it. The app is the library's own `make_wsgi_app`, so the port, paths and output are unchanged
(content negotiation, gzip, `name[]` filters included); one thread per request, as the library does.
"""

from __future__ import annotations

import socket
import threading
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import REGISTRY, make_wsgi_app
from prometheus_client.registry import Collector


class _QuietHandler(WSGIRequestHandler):
    """No access log line per scrape."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    # Request threads are fire-and-forget: a scrape in flight never holds the process open.
    daemon_threads = True


class MetricsServer:
    """Serve `registry` on addr:port from a daemon thread; `start()` binds, `close()` stops and unbinds."""

    def __init__(self, port: int, addr: str = "0.0.0.0", registry: Collector = REGISTRY) -> None:
        self._port = port
        self._addr = addr
        self._registry = registry
        self._httpd: WSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._closing = threading.Event()

    @property
    def port(self) -> int:
        """The bound port (the one asked for, or the kernel's choice when asked for 0)."""
        if self._httpd is None:
            return self._port
        return int(self._httpd.server_address[1])

    def start(self) -> None:
        family, host = _family_and_host(self._addr, self._port)

        class Server(_ThreadingServer):
            address_family = family

        self._httpd = make_server(
            host, self._port, make_wsgi_app(self._registry), Server, handler_class=_QuietHandler
        )
        self._thread = threading.Thread(target=self._serve, name="metrics-server", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        httpd = self._httpd
        assert httpd is not None
        while not self._closing.is_set():
            # timeout is None: select() blocks until a connection arrives; no periodic wake-up.
            httpd.handle_request()

    def close(self) -> None:
        if self._httpd is None or self._thread is None:
            return
        self._closing.set()
        bound = str(self._httpd.server_address[0])
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(bound, bound)
        try:
            # Wake the blocked handle_request(); the handler reads an empty request and returns.
            with socket.create_connection((host, self.port), timeout=2):
                pass
        except OSError:
            pass
        self._thread.join(timeout=5)
        self._httpd.server_close()
        self._httpd = None
        self._thread = None


def _family_and_host(addr: str, port: int) -> tuple[socket.AddressFamily, str]:
    """IPv4 or IPv6, from what the address resolves to (so "::" binds an IPv6 socket)."""
    infos = socket.getaddrinfo(addr, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, _, _, _, sockaddr = infos[0]
    return family, str(sockaddr[0])


def start_metrics_server(port: int, addr: str = "0.0.0.0", registry: Collector = REGISTRY) -> MetricsServer:
    """Bind and serve now (the port is taken when this returns, or OSError)."""
    server = MetricsServer(port, addr, registry)
    server.start()
    return server
