"""promtool and prometheus from scripts/install_prometheus.sh (Debian's package, extracted once per cache)."""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@functools.cache
def prometheus_bin_dir() -> Path:
    """bin/ holding promtool and prometheus, installed into STACK_CACHE on first use."""
    out = subprocess.run(
        ["bash", str(ROOT / "scripts" / "install_prometheus.sh")],
        check=True,
        capture_output=True,
        text=True,
        env=dict(os.environ),
    )
    return Path(out.stdout.strip().splitlines()[-1]) / "bin"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(prometheus_bin_dir() / "promtool"), *args], capture_output=True, text=True, cwd=ROOT
    )
