"""The alert rules as promtool sees them, and the promises around them: tests, runbook, components."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from mesh.components import COMPONENTS
from tests.ops.promtool import ROOT, promtool

RULES = ROOT / "ops" / "prometheus" / "alerts.yml"
RULE_TESTS = ROOT / "ops" / "prometheus" / "alerts_test.yml"
RUNBOOK = ROOT / "docs" / "runbook.md"


def _alerts() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def _rule_tests() -> list[dict[str, Any]]:
    return [
        check
        for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
        for check in test.get("alert_rule_test", [])
    ]


def test_promtool_accepts_the_rules() -> None:
    result = promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_unit_tests_of_the_alerts_pass() -> None:
    result = promtool("test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_fail_when_an_alert_no_longer_fires(tmp_path: Path) -> None:
    """The unit tests can fail: with one threshold raised far out of reach, promtool reports FAILED."""
    broken = RULES.read_text().replace("sum(assist_outbox_backlog) > 50", "sum(assist_outbox_backlog) > 5e9")
    assert broken != RULES.read_text()
    (tmp_path / "alerts.yml").write_text(broken)
    (tmp_path / "alerts_test.yml").write_text(RULE_TESTS.read_text())
    result = promtool("test", "rules", str(tmp_path / "alerts_test.yml"))
    assert result.returncode != 0
    assert "AssistOutboxBacklogGrowing" in result.stdout + result.stderr


def test_every_alert_has_a_test_that_fires_and_one_that_stays_quiet() -> None:
    checks = _rule_tests()
    for alert in _alerts():
        name = alert["alert"]
        mine = [c for c in checks if c["alertname"] == name]
        assert any(c.get("exp_alerts") for c in mine), f"{name}: no test where it fires"
        assert any(c.get("exp_alerts") == [] for c in mine), f"{name}: no test where it stays quiet"


def test_every_alert_links_to_its_runbook_entry() -> None:
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", line[3:].strip().lower()).replace(" ", "-")
        for line in RUNBOOK.read_text().splitlines()
        if line.startswith("## ")
    }
    for alert in _alerts():
        url = alert["annotations"]["runbook_url"]
        path, _, anchor = url.partition("#")
        assert path == "docs/runbook.md", url
        assert anchor in anchors, f"{alert['alert']}: no '## {anchor}' heading in docs/runbook.md"
        assert alert["labels"]["severity"] in ("page", "ticket")


def test_the_restart_alert_covers_exactly_the_mesh_containers() -> None:
    (restarting,) = [a for a in _alerts() if a["alert"] == "AssistPodsRestarting"]
    match = re.search(r'container=~"([^"]+)"', restarting["expr"])
    assert match is not None
    assert set(match.group(1).split("|")) == {c.name for c in COMPONENTS}
