"""Regenerate gen/ from protos/: messages, gRPC stubs and .pyi types (mypy-protobuf).

Usage: python scripts/gen_protos.py [OUT_DIR]   (default: gen/)
       python scripts/gen_protos.py --deps [DIR]   (only copy the imported googleapis protos; prints DIR)
The tests call it with a temporary OUT_DIR and compare, so a stale gen/ fails CI.

Only our own contracts live in protos/. `coordinator.proto` imports `google/api/annotations.proto` (the
edge's HTTP routes); the installed `googleapis-common-protos` package ships it and `http.proto`, so
protoc and buf read a git-ignored copy of the installed files in .local/protos-deps/ (buf.yaml lists it
as a module that is never linted). The copy follows the installed package, so uv.lock picks the version.
"""

from __future__ import annotations

import shutil
import sys
from importlib import resources
from pathlib import Path

from google.api import http_pb2
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
DEPS_DIR = ROOT / ".local" / "protos-deps"
# The imports of protos/assist/v1 that are not ours, and the files those import in turn.
GOOGLEAPIS_FILES = ("google/api/annotations.proto", "google/api/http.proto")
# mypy-protobuf's plugins sit beside the interpreter in the virtual environment.
BIN = Path(sys.executable).parent


def installed_googleapis_root() -> Path:
    """The directory holding google/api/*.proto of the installed googleapis-common-protos.

    Found through one of the package's own modules: `google` is a namespace package shared by several
    distributions, so its location says nothing about this one.
    """
    return Path(http_pb2.__file__).resolve().parent.parent.parent


def ensure_proto_deps(target: Path = DEPS_DIR) -> Path:
    """Make target hold the installed copies of GOOGLEAPIS_FILES (rewriting only what differs)."""
    source_root = installed_googleapis_root()
    for name in GOOGLEAPIS_FILES:
        source = source_root / name
        if not source.is_file():
            raise SystemExit(f"{source} is missing: is googleapis-common-protos installed (uv sync)?")
        copy = target / name
        content = source.read_bytes()
        if not copy.is_file() or copy.read_bytes() != content:
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.write_bytes(content)
    return target


def generate(out_dir: Path) -> None:
    """Write the generated Python for every assist/v1 contract into out_dir (replacing what was there)."""
    target = out_dir / "assist"
    if target.exists():
        shutil.rmtree(target)
    out_dir.mkdir(parents=True, exist_ok=True)
    sources = sorted(str(p.relative_to(PROTOS)) for p in (PROTOS / "assist" / "v1").glob("*.proto"))
    well_known = str(resources.files("grpc_tools") / "_proto")
    args = [
        "protoc",
        f"-I{PROTOS}",
        f"-I{ensure_proto_deps()}",
        f"-I{well_known}",
        f"--plugin=protoc-gen-mypy={BIN / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={BIN / 'protoc-gen-mypy_grpc'}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"--mypy_out={out_dir}",
        f"--mypy_grpc_out={out_dir}",
        *sources,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed; see the messages above")
    for package in (target, target / "v1"):
        (package / "__init__.py").write_text(
            '"""Generated from protos/ by scripts/gen_protos.py; do not edit."""\n'
        )
        (package / "py.typed").write_text("")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--deps"]:
        print(ensure_proto_deps(Path(sys.argv[2]) if len(sys.argv) > 2 else DEPS_DIR))
    else:
        generate(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "gen")
