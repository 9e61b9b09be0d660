"""The component registry: one declaration per process, consistent with what the code runs and calls."""

from __future__ import annotations

import importlib.util
from dataclasses import fields

from coordinator.agent_clients import AgentClients, CallCaps
from mesh.components import AGENT_NAMES, COMPONENTS


def test_every_component_names_a_runnable_module() -> None:
    for spec in COMPONENTS:
        assert importlib.util.find_spec(f"{spec.module}.__main__") is not None, spec.module


def test_default_ports_are_distinct() -> None:
    ports = [p for c in COMPONENTS for p in (c.port, c.metrics_port) if p]
    assert len(ports) == len(set(ports))


def test_the_coordinator_has_a_client_and_a_call_cap_for_every_agent() -> None:
    client_fields = {f.name for f in fields(AgentClients)}
    cap_fields = {f.name for f in fields(CallCaps)}
    for name in AGENT_NAMES:
        assert name in client_fields
        assert f"{name}_s" in cap_fields


def test_served_components_declare_a_health_check() -> None:
    for spec in COMPONENTS:
        assert (spec.kind == "worker") == (spec.health == "none"), spec.name
        assert (spec.health == "http") == bool(spec.health_path), spec.name
