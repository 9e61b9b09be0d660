"""Dashboards as code: `panels.py` says what each dashboard shows, `build.py` turns it into Grafana JSON with
grafana-foundation-sdk (`python -m devtools.dashboards` writes ops/dashboards/*.json, `--check` fails when
they are stale), `render.py` plots the panels' data from a Prometheus to PNG (no Grafana runs here)."""
