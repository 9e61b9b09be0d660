"""The import graph has floors: processes over mesh/ over gen/, with development tools beside them.

Checked on the source text (every `import` and `from ... import` of every module), so an arrow back up
fails here before it becomes a habit.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROCESSES = (
    "agents",
    "coordinator",
    "edge",
    "outbox_relay",
    "analytics",
    "host_sync",
    "history_import",
    "support",
)
DEVELOPMENT = ("devtools", "demo", "testing", "bench", "eval", "tests")


def _imports(package: str) -> dict[str, set[str]]:
    """Top-level packages each module of `package` imports."""
    found: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


def test_mesh_imports_no_process_and_no_development_tool() -> None:
    for module, names in _imports("mesh").items():
        assert not names & {*PROCESSES, *DEVELOPMENT}, module


def test_processes_import_no_development_tool() -> None:
    for package in PROCESSES:
        for module, names in _imports(package).items():
            assert not names & set(DEVELOPMENT), module


def test_tools_import_nothing_from_the_tests() -> None:
    for package in ("bench", "eval", "devtools", "demo", "testing"):
        for module, names in _imports(package).items():
            assert "tests" not in names, module
