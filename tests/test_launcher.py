"""The development launcher's plan: ports from the registry (plus an offset), addresses in the environment."""

from __future__ import annotations

from pathlib import Path

from mesh.components import COMPONENTS
from mesh.launcher import plan_mesh


def test_fixed_ports_are_the_registry_defaults_shifted_by_the_offset(tmp_path: Path) -> None:
    mesh = plan_mesh({}, log_dir=tmp_path, fixed_ports=True, port_offset=1000)
    for spec in COMPONENTS:
        placed = mesh.components[spec.name]
        assert placed.port == (spec.port + 1000 if spec.port else 0)
        assert placed.metrics_port == spec.metrics_port + 1000


def test_every_callable_component_address_is_in_the_environment(tmp_path: Path) -> None:
    mesh = plan_mesh({}, log_dir=tmp_path)
    for spec in COMPONENTS:
        if spec.address_env:
            assert mesh.env[spec.address_env] == f"127.0.0.1:{mesh.components[spec.name].port}"
