"""The contracts: gen/ matches protos/, and the HTTP routes come from the protos' annotations."""

from __future__ import annotations

import filecmp
import sys
from pathlib import Path

import pytest

from edge.routes import coordinator_routes
from mesh.internal_identity import load_policy

ROOT = Path(__file__).resolve().parent.parent


def _differences(left: Path, right: Path) -> list[str]:
    cmp = filecmp.dircmp(left, right, ignore=["__pycache__"])
    out = [
        *(f"only in gen/: {n}" for n in cmp.left_only),
        *(f"missing from gen/: {n}" for n in cmp.right_only),
    ]
    out += [f"differs: {n}" for n in cmp.diff_files]
    for name in cmp.common_dirs:
        out += _differences(left / name, right / name)
    return out


def test_generated_code_is_up_to_date(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from gen_protos import generate  # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)
    generate(tmp_path)
    differences = _differences(ROOT / "gen" / "assist", tmp_path / "assist")
    assert not differences, f"gen/ is stale; run ./dev gen ({differences})"


def test_http_routes_are_read_from_the_contract() -> None:
    routes = {(r.verb, r.path): r for r in coordinator_routes()}
    assert set(routes) == {
        ("GET", "/v1/widget/config"),
        ("POST", "/v1/conversations"),
        ("GET", "/v1/conversations"),
        ("POST", "/v1/conversations/{conversation_id}/messages"),
        ("GET", "/v1/conversations/{conversation_id}/messages"),
        ("POST", "/v1/messages/{message_id}/feedback"),
        ("POST", "/v1/conversations/{conversation_id}/satisfaction"),
        ("POST", "/v1/study/events"),
    }
    converse = routes[("POST", "/v1/conversations/{conversation_id}/messages")]
    assert converse.server_streaming
    assert converse.grpc_path == "/assist.v1.CoordinatorService/Converse"
    assert converse.path_fields == ("conversation_id",)


@pytest.mark.parametrize(
    "proto", sorted((ROOT / "protos" / "assist" / "v1").glob("*.proto")), ids=lambda p: p.name
)
def test_every_contract_element_is_documented(proto: Path) -> None:
    lines = proto.read_text().splitlines()
    undocumented = []
    for i, line in enumerate(lines):
        stripped = line.strip()
        starts = ("service ", "rpc ", "message ", "enum ")
        is_field = (
            stripped.endswith(";") and "=" in stripped and not stripped.startswith(("option", "//", "syntax"))
        )
        if stripped.startswith(starts) or is_field:
            previous = lines[i - 1].strip() if i else ""
            if not previous.startswith("//"):
                undocumented.append(f"{proto.name}:{i + 1}: {stripped}")
    assert not undocumented, "\n".join(undocumented)


def test_the_edge_may_call_every_rpc_the_contract_routes_over_http() -> None:
    """A route added to the contract without the edge's permission would answer 403 to every widget."""
    policy = load_policy(ROOT / "ops" / "internal-clients.yaml")
    edge = policy.clients["edge"]
    for route in coordinator_routes():
        method = route.grpc_path.rsplit("/", 1)[1]
        assert edge.may_call(method), f"ops/internal-clients.yaml: the edge may not call {method}"
