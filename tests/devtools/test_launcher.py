"""The development launcher's plan: ports from the registry (plus an offset), addresses in the environment."""

from __future__ import annotations

from pathlib import Path

from devtools.launcher import plan_mesh
from mesh.components import COMPONENTS
from mesh.tls import identity_of_certificate


def test_fixed_ports_are_the_registry_defaults_shifted_by_the_offset(tmp_path: Path) -> None:
    mesh = plan_mesh(
        {}, log_dir=tmp_path, fixed_ports=True, port_offset=1000, extra_env={"DEV_KEYS_DIR": str(tmp_path)}
    )
    for spec in COMPONENTS:
        placed = mesh.components[spec.name]
        assert placed.port == (spec.port + 1000 if spec.port else 0)
        assert placed.metrics_port == spec.metrics_port + 1000


def test_every_callable_component_address_is_in_the_environment(tmp_path: Path) -> None:
    mesh = plan_mesh({}, log_dir=tmp_path, extra_env={"DEV_KEYS_DIR": str(tmp_path)})
    for spec in COMPONENTS:
        if spec.address_env:
            assert mesh.env[spec.address_env] == f"127.0.0.1:{mesh.components[spec.name].port}"


def test_the_development_edge_serves_the_demo_and_verifies_with_its_jwks(tmp_path: Path) -> None:
    with_demo = plan_mesh({}, log_dir=tmp_path, extra_env={"DEV_KEYS_DIR": str(tmp_path)})
    assert with_demo.components["edge"].module == "devtools.demo_edge"
    edge_port = with_demo.components["edge"].port
    assert with_demo.env["AUTH_JWKS_URL"] == f"http://127.0.0.1:{edge_port}/.well-known/jwks.json"
    assert "AUTH_PUBLIC_KEY_FILE" not in with_demo.env or not with_demo.env["AUTH_PUBLIC_KEY_FILE"]
    plain = plan_mesh({}, log_dir=tmp_path, demo_site=False, extra_env={"DEV_KEYS_DIR": str(tmp_path)})
    assert plain.components["edge"].module == "edge"
    assert Path(plain.env["AUTH_PUBLIC_KEY_FILE"]).read_bytes().startswith(b"-----BEGIN PUBLIC KEY")


def test_the_coordinator_and_edge_get_certificates_from_one_development_ca(tmp_path: Path) -> None:
    mesh = plan_mesh(
        {},
        log_dir=tmp_path,
        extra_env={"DEV_KEYS_DIR": str(tmp_path / "keys"), "MESH_TLS_ROOT": str(tmp_path / "tls")},
    )
    ca = (tmp_path / "tls" / "ca" / "ca.crt").read_bytes()
    for identity in ("coordinator", "edge", "probe", "assist-cli"):
        directory = mesh.tls_dir(identity)
        assert (directory / "ca.crt").read_bytes() == ca
        assert identity_of_certificate((directory / "tls.crt").read_bytes()) == identity
        assert (directory / "tls.key").stat().st_mode & 0o077 == 0, (
            "private keys are readable by the owner only"
        )
    assert Path(mesh.env["INTERNAL_CLIENTS_FILE"]).name == "internal-clients.yaml"


def test_a_mesh_registers_its_metrics_ports_for_prometheus_and_removes_them_when_stopped(
    tmp_path: Path,
) -> None:
    import json

    targets = tmp_path / "targets"
    mesh = plan_mesh({"PROMETHEUS_TARGETS_DIR": str(targets)}, log_dir=tmp_path / "logs")
    mesh._register_scrape_targets()
    path = mesh.scrape_targets_file
    assert path is not None and path.parent == targets
    entries = json.loads(path.read_text())
    assert {e["labels"]["component"] for e in entries} == set(mesh.components)
    assert {e["labels"]["mesh"] for e in entries} == {mesh.mesh_id}
    assert sorted(e["targets"][0] for e in entries) == sorted(
        f"127.0.0.1:{c.metrics_port}" for c in mesh.components.values()
    )
    mesh.stop()
    assert not path.exists()
