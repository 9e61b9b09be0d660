"""Prometheus: Debian's build (scripts/install_prometheus.sh), scraping every local mesh through file_sd.

Meshes come and go on free ports (tests) or fixed ones (`./dev up`), so the scrape targets are not in the
configuration: each mesh the launcher starts writes one JSON file into `targets_dir` (STACK_HOME/prometheus/
targets) naming its processes' metrics ports, and removes it when it stops; Prometheus re-reads the folder
every few seconds. The alert rules of ops/prometheus/alerts.yml are loaded, so `/api/v1/alerts` shows
what would page. Its HTTP API serves the dashboards' queries (Debian's package has no web UI assets).
"""

from __future__ import annotations

import json
from pathlib import Path

from devtools.probes import http_ok
from devtools.stack.kinds import ServerKind
from devtools.stack.processes import spawn
from devtools.stack.settings import Settings, StackError

# Debian bookworm's package; scripts/install_prometheus.sh extracts it under STACK_CACHE/prometheus/<version>.
DEB_VERSION = "2.42.0+ds-5+deb12u1"
# Prometheus' own default and the usual production choice. Every scrape costs each of the mesh's processes a
# full exposition (generate_latest plus the process collector's /proc reads): at 5 s that was the largest
# idle cost of our Python processes (issue 8). Dashboards query 1 m rate windows, which 15 s fills with 4
# samples; a test that needs fresh samples waits for SCRAPE_INTERVAL_S (tests/ops/test_dashboards.py).
SCRAPE_INTERVAL_S = 15
# Under the interval, with room for a process busy starting up; Prometheus' default is 10 s.
SCRAPE_TIMEOUT_S = 10


def install_dir(settings: Settings) -> Path:
    return settings.cache / "prometheus" / DEB_VERSION


def home(settings: Settings) -> Path:
    return settings.home / "prometheus"


def targets_dir(settings: Settings) -> Path:
    """Where meshes write their file_sd target files (`<mesh id>.json`)."""
    return home(settings) / "targets"


def url(settings: Settings, port: int | None = None) -> str:
    return f"http://{settings.host}:{port or settings.port('prometheus')}"


def render_config(settings: Settings) -> str:
    """prometheus.yml (JSON is YAML): one file_sd job for every mesh, the repository's alert rules."""
    config = {
        "global": {
            "scrape_interval": f"{SCRAPE_INTERVAL_S}s",
            "scrape_timeout": f"{SCRAPE_TIMEOUT_S}s",
            "evaluation_interval": "15s",
        },
        "rule_files": [str(settings.repo_root / "ops" / "prometheus" / "alerts.yml")],
        "scrape_configs": [
            {
                "job_name": "assist",
                # A process's own `component` label (assist_turns_in_flight) is the same name: keep it as is.
                "honor_labels": True,
                "file_sd_configs": [
                    {"files": [str(targets_dir(settings) / "*.json")], "refresh_interval": "2s"}
                ],
            }
        ],
    }
    return json.dumps(config, indent=2) + "\n"


def _log(settings: Settings) -> Path:
    return settings.log_dir / "prometheus.log"


def _launch(settings: Settings) -> int:
    binary = install_dir(settings) / "bin" / "prometheus"
    if not binary.is_file():
        raise StackError(f"Prometheus is not installed ({binary}): run scripts/install_prometheus.sh")
    targets_dir(settings).mkdir(parents=True, exist_ok=True)
    config = home(settings) / "prometheus.yml"
    config.write_text(render_config(settings))
    argv = [
        str(binary),
        f"--config.file={config}",
        f"--storage.tsdb.path={settings.data_dir / 'prometheus'}",
        "--storage.tsdb.retention.time=2d",
        f"--web.listen-address={settings.host}:{settings.port('prometheus')}",
        "--web.enable-lifecycle",  # POST /-/reload re-reads prometheus.yml and the rules
    ]
    return spawn(argv, _log(settings))


PROMETHEUS = ServerKind(
    name="prometheus",
    comm="prometheus",
    grace_s=20,
    launch=_launch,
    ready=lambda settings, port: http_ok(f"{url(settings, port)}/-/ready"),
    log_file=_log,
)
