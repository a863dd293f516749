"""The provisioned Grafana dashboard: valid JSON, the panels the operators asked for, and only
queries over series the worker (or Prometheus itself) actually exports."""

from __future__ import annotations

import json
from typing import Any

import yaml

from tests.support.paths import ROOT
from tests.support.prometheus import exported_series, metric_names

GRAFANA = ROOT / "ops" / "grafana"


def _dashboard() -> dict[str, Any]:
    data = json.loads((GRAFANA / "dashboards" / "leadscore.json").read_text())
    assert isinstance(data, dict)
    return data


def _exprs(dashboard: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def test_dashboard_has_the_panels_operators_need() -> None:
    dashboard = _dashboard()
    assert dashboard["uid"] and dashboard["title"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    joined = "\n".join(_exprs(dashboard))
    assert "sum by (type) (rate(leadscore_events_consumed_total" in joined  # throughput by type
    assert "histogram_quantile(0.99" in joined and "leadscore_event_to_alert_seconds" in joined
    assert "increase(leadscore_transitions_total[1h])" in joined  # alerts per hour
    assert "leadscore_events_rejected_total" in joined  # dead letters
    assert "leadscore_consumer_lag" in joined  # lag


def test_queries_only_use_exported_metrics() -> None:
    exported = exported_series() | {"up"}
    for expr in _exprs(_dashboard()):
        unknown = metric_names(expr.replace("$__rate_interval", "5m")) - exported
        assert not unknown, f"{expr}: {unknown}"


def test_panels_use_the_provisioned_datasource() -> None:
    sources = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yml").read_text())
    uid = sources["datasources"][0]["uid"]
    for panel in _dashboard()["panels"]:
        assert panel["datasource"]["uid"] == uid
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == uid
