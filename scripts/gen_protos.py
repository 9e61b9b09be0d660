"""Regenerate gen/ from protos/: messages, gRPC stubs and .pyi types (mypy-protobuf).

Usage: python scripts/gen_protos.py [OUT_DIR]   (default: gen/)
The tests call it with a temporary OUT_DIR and compare, so a stale gen/ fails CI.
"""

from __future__ import annotations

import shutil
import sys
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
# mypy-protobuf's plugins sit beside the interpreter in the virtual environment.
BIN = Path(sys.executable).parent


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
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "gen")
