"""Grafana JSON from `panels.py` with grafana-foundation-sdk's typed builders (Grafana's own schema).

The JSON is what the chart ships as ConfigMaps for Grafana's dashboard sidecar, so it is committed; a
test fails when it differs from what this module builds (run `python -m devtools.dashboards`).
"""

from __future__ import annotations

import json
from pathlib import Path

from grafana_foundation_sdk.builders import dashboard as gdash
from grafana_foundation_sdk.builders import prometheus as gprom
from grafana_foundation_sdk.builders import stat as gstat
from grafana_foundation_sdk.builders import timeseries as gts
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as models

from devtools.dashboards.panels import DASHBOARDS, Dashboard, Panel

ROOT = Path(__file__).resolve().parents[2]
OUT_DIR = ROOT / "ops" / "dashboards"
DATASOURCE = models.DataSourceRef(type_val="prometheus", uid="${datasource}")


def _panel(panel: Panel) -> gts.Panel | gstat.Panel:
    built = gstat.Panel() if panel.kind == "stat" else gts.Panel()
    built.title(panel.title).unit(panel.unit).datasource(DATASOURCE).height(8).span(8)
    if panel.description:
        built.description(panel.description)
    for ref, series in zip("ABCDEFGH", panel.series, strict=False):
        built.with_target(gprom.Dataquery().expr(series.expr).legend_format(series.legend).ref_id(ref))
    return built


def build(board: Dashboard) -> dict[str, object]:
    """The dashboard as Grafana's JSON model (a dict ready for json.dumps)."""
    built = (
        gdash.Dashboard(board.title)
        .uid(board.uid)
        .description(board.description)
        .tags(["assist"])
        .time("now-1h", "now")
        .refresh("30s")
        .with_variable(gdash.DatasourceVariable("datasource").label("Data source").type("prometheus"))
        .with_variable(
            gdash.QueryVariable("mesh")
            .label("Mesh")
            .datasource(DATASOURCE)
            .query("label_values(up, mesh)")
            .include_all(True)
            .all_value(".*")
            .multi(False)
        )
    )
    for title, panels in board.rows:
        built.with_row(gdash.Row(title))
        for panel in panels:
            built.with_panel(_panel(panel))
    encoded: dict[str, object] = json.loads(json.dumps(built.build(), cls=JSONEncoder))
    return encoded


def rendered() -> dict[str, str]:
    """File name -> JSON text of every dashboard."""
    return {
        f"{board.uid.removeprefix('assist-')}.json": json.dumps(build(board), indent=2, sort_keys=True) + "\n"
        for board in DASHBOARDS
    }


def expressions(board_json: dict[str, object]) -> list[tuple[str, str]]:
    """(panel title, PromQL) of every query in a dashboard's JSON."""
    found: list[tuple[str, str]] = []
    panels = board_json.get("panels", [])
    assert isinstance(panels, list)
    for panel in panels:
        for target in panel.get("targets", []) or []:
            if "expr" in target:
                found.append((panel["title"], target["expr"]))
    return found
