"""Which address the per-IP limit counts (edge/client_address.py): X-Forwarded-For only via trusted proxies."""

from __future__ import annotations

from edge.client_address import ClientAddress, parse_networks

BEHIND_LB = ClientAddress(parse_networks("10.0.0.0/8, 127.0.0.1"))
DIRECT = ClientAddress([])


def test_without_trusted_proxies_the_peer_is_the_client_whatever_the_header_says() -> None:
    assert DIRECT.of("198.51.100.7", ["203.0.113.9"]) == "198.51.100.7"


def test_a_peer_that_is_not_a_trusted_proxy_cannot_forward_an_address() -> None:
    assert BEHIND_LB.of("198.51.100.7", ["203.0.113.9"]) == "198.51.100.7"


def test_behind_trusted_proxies_the_first_untrusted_hop_from_the_right_is_the_client() -> None:
    assert BEHIND_LB.of("10.1.2.3", ["203.0.113.9"]) == "203.0.113.9"
    assert BEHIND_LB.of("127.0.0.1", ["203.0.113.9, 10.0.0.5"]) == "203.0.113.9"


def test_addresses_a_client_prepends_do_not_change_its_bucket() -> None:
    assert BEHIND_LB.of("10.1.2.3", ["1.2.3.4, 5.6.7.8, 203.0.113.9"]) == "203.0.113.9"


def test_several_header_lines_are_read_as_one_list_in_order() -> None:
    assert BEHIND_LB.of("10.1.2.3", ["1.2.3.4", "203.0.113.9"]) == "203.0.113.9"


def test_a_garbled_hop_stops_the_walk_at_the_last_trusted_one() -> None:
    assert BEHIND_LB.of("10.1.2.3", ["203.0.113.9, not-an-ip"]) == "10.1.2.3"
    assert BEHIND_LB.of("10.1.2.3", []) == "10.1.2.3"
