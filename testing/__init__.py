"""Test doubles that speak real protocols: servers the code under test reaches over real sockets."""
