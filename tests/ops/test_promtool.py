"""The Prometheus config and alert rules, checked by Prometheus's own promtool (Debian's package,
installed by ops/test): syntax, that the config finds the rules, and that each alert fires on a
synthetic series that should trip it and stays quiet on one that should not."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from streams.observability.metrics import Metrics
from tests.conftest import ROOT

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


def exported_series() -> set[str]:
    """Every series name the worker's registry can expose (counters' _total, histograms' parts)."""
    names: set[str] = set()
    for family in Metrics().registry.collect():
        kind = family.type
        if kind == "counter":
            names |= {f"{family.name}_total", f"{family.name}_created"}
        elif kind == "histogram":
            names |= {f"{family.name}_{p}" for p in ("bucket", "sum", "count", "created")}
        else:
            names.add(family.name)
    return names


_FUNCTIONS = {
    "sum", "max", "min", "avg", "rate", "increase", "deriv", "histogram_quantile", "clamp_min",
    "by", "and", "or", "unless", "le", "on", "without", "humanizePercentage", "absent",
}  # fmt: skip


def metric_names(expr: str) -> set[str]:
    """Identifiers in a PromQL expression that name series (not functions, labels or keywords)."""
    without_labels = re.sub(r"\{[^}]*\}", "", expr)
    without_groupings = re.sub(r"\b(by|without|on)\s*\([^)]*\)", "", without_labels)
    without_ranges = re.sub(r"\[[^\]]*\]", "", without_groupings)
    names = set(re.findall(r"(?<![\w.])[a-zA-Z_:][a-zA-Z0-9_:]*", without_ranges))
    return {n for n in names if n not in _FUNCTIONS and not n.startswith("__")}
