"""Plot every panel of the dashboards from a Prometheus to PNG, one image per dashboard (no Grafana here).

`python -m devtools.dashboards.render PROMETHEUS_URL MESH_ID OUT_DIR [--minutes N]`: each panel's
queries over the last N minutes (query_range), `$mesh` set to the mesh and `$__rate_interval` to 1m.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from devtools.dashboards.build import build, expressions
from devtools.dashboards.panels import DASHBOARDS


def concrete(expr: str, mesh: str, rate_window: str = "1m") -> str:
    """A dashboard's PromQL with Grafana's variables given values."""
    return expr.replace("$mesh", mesh).replace("$__rate_interval", rate_window)


def query_range(url: str, expr: str, start: float, end: float, step_s: int) -> list[dict[str, object]]:
    reply = httpx.get(
        f"{url}/api/v1/query_range",
        params={"query": expr, "start": start, "end": end, "step": step_s},
        timeout=30,
    )
    reply.raise_for_status()
    result: list[dict[str, object]] = reply.json()["data"]["result"]
    return result


def _legend(template: str, labels: dict[str, str]) -> str:
    for key, value in labels.items():
        template = template.replace("{{" + key + "}}", value)
    return template


def render(url: str, mesh: str, out_dir: Path, minutes: int = 10) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    end = time.time()
    start = end - minutes * 60
    written: list[Path] = []
    for board in DASHBOARDS:
        grafana: dict[str, Any] = build(board)
        panels = [p for p in grafana["panels"] if p.get("type") != "row"]
        cols = 3
        rows = math.ceil(len(panels) / cols)
        fig, axes = plt.subplots(rows, cols, figsize=(cols * 5.5, rows * 3.2), squeeze=False)
        for ax, panel in zip(axes.flat, panels, strict=False):
            for target in panel.get("targets", []):
                for series in query_range(url, concrete(target["expr"], mesh), start, end, 15):
                    values = series["values"]
                    assert isinstance(values, list)
                    xs = [(float(t) - end) / 60 for t, _ in values]
                    ys = [float(v) for _, v in values]
                    labels = series["metric"]
                    assert isinstance(labels, dict)
                    ax.plot(xs, ys, label=_legend(target.get("legendFormat", ""), labels) or "value")
            ax.set_title(panel["title"], fontsize=9)
            ax.set_xlabel("minutes ago", fontsize=7)
            ax.set_ylabel(panel["fieldConfig"]["defaults"].get("unit", ""), fontsize=7)
            ax.tick_params(labelsize=7)
            if ax.lines:
                ax.legend(fontsize=6, loc="upper left")
        for ax in list(axes.flat)[len(panels) :]:
            ax.axis("off")
        fig.suptitle(f"{board.title}  (mesh {mesh})", fontsize=11)
        fig.tight_layout()
        path = out_dir / f"{board.uid}.png"
        fig.savefig(path, dpi=80)
        plt.close(fig)
        written.append(path)
    return written


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    minutes = int(argv[argv.index("--minutes") + 1]) if "--minutes" in argv else 10
    for path in render(argv[0], argv[1], Path(argv[2]), minutes):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

__all__ = ["concrete", "expressions", "json", "render"]
