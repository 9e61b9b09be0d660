"""Which address a request comes from, for the per-IP rate limit.

WHY: behind a load balancer every request's peer is the balancer, so the client's address must come from
`X-Forwarded-For`; but that header is whatever the client wrote, so it is believed only when the peer is a
configured trusted proxy (TRUSTED_PROXIES), and then only up to the first hop that is not trusted. Walking
the list from the right, skipping trusted proxies, gives the last address a trusted hop saw connect: a client
cannot pick its own bucket by prepending addresses (the scheme of nginx's `real_ip_recursive`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(spec: str) -> list[Network]:
    """`10.0.0.0/8, 127.0.0.1` -> networks; a bare address is a one-address network."""
    return [ipaddress.ip_network(part.strip(), strict=False) for part in spec.split(",") if part.strip()]


class ClientAddress:
    """Finds the client's address from the peer and the forwarding headers the trusted proxies added."""

    def __init__(self, trusted_proxies: Iterable[Network]) -> None:
        self._trusted = list(trusted_proxies)

    def _is_trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._trusted)

    def of(self, peer: str | None, forwarded_for: Iterable[str] = ()) -> str:
        """The client's address; `forwarded_for` are the X-Forwarded-For header values in order."""
        client = peer or "unknown"
        if not self._is_trusted(client):
            return client
        hops = [hop.strip() for value in forwarded_for for hop in value.split(",") if hop.strip()]
        for hop in reversed(hops):
            try:
                ipaddress.ip_address(hop)
            except ValueError:
                # A garbled entry: nothing left of it can be trusted, and the last trusted hop saw it.
                return client
            client = hop
            if not self._is_trusted(hop):
                return hop
        return client
