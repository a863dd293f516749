"""The Prometheus config and alert rules, checked by Prometheus's own promtool (Debian's package,
installed by ops/test): syntax, that the config finds the rules, and that each alert fires on a
synthetic series that should trip it and stays quiet on one that should not."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from tests.support.paths import ROOT
from tests.support.prometheus import exported_series, metric_names

PROMETHEUS = ROOT / "ops" / "prometheus"


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("promtool")
    if tool is None:
        pytest.fail("promtool is missing: ops/test installs it with Debian's prometheus package")
    return subprocess.run([tool, *args], cwd=PROMETHEUS, capture_output=True, text=True)


def test_config_is_valid_and_loads_the_rules() -> None:
    result = _promtool("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 rule files found" in result.stdout + result.stderr


def test_rules_are_valid() -> None:
    result = _promtool("check", "rules", "rules.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_fires_when_it_should() -> None:
    result = _promtool("test", "rules", "rules.test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    rules = yaml.safe_load((PROMETHEUS / "rules.yml").read_text())
    tests = yaml.safe_load((PROMETHEUS / "rules.test.yml").read_text())
    tested = {
        case["alertname"] for test in tests["tests"] for case in test.get("alert_rule_test", [])
    }
    alerts = {r["alert"] for group in rules["groups"] for r in group["rules"]}
    assert alerts - tested == {"LeadscoreWorkerDown"}  # `up` is Prometheus's own series


def test_rules_use_only_metrics_the_worker_exports() -> None:
    exported = exported_series()
    rules = yaml.safe_load((PROMETHEUS / "rules.yml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            names = metric_names(rule["expr"])
            assert names, rule["alert"]
            for name in names:
                assert name in exported | {"up"}, f"{rule['alert']}: unknown metric {name}"
