"""docker-compose.yml cannot be run here (no Docker engine), so it is checked by reading it: the
services exist, the host ports are those of ops/stack, and the worker is configured only through
variables the worker actually reads."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from streams.settings import Settings, redis_nodes
from tests.support.paths import ROOT, STACK


def _compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def _stack_default(variable: str) -> str:
    match = re.search(rf"{variable}:-([^}}]+)}}", STACK.read_text())
    assert match, f"ops/stack has no default for {variable}"
    return match.group(1)


def test_services_make_a_complete_stack() -> None:
    services = _compose()["services"]
    assert {"kafka", "redis", "worker", "prometheus", "grafana"} <= set(services)
    assert services["worker"]["build"] == "."
    assert (ROOT / "Dockerfile").is_file()


def test_host_ports_match_ops_stack() -> None:
    services = _compose()["services"]
    kafka_port = _stack_default("LEADSCORE_KAFKA_PORT")
    redis_port = _stack_default("LEADSCORE_REDIS_PORT")
    assert f"{kafka_port}:{kafka_port}" in services["kafka"]["ports"]
    assert (
        f"EXTERNAL://127.0.0.1:{kafka_port}"
        in services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    )
    assert f"{redis_port}:6379" in services["redis"]["ports"]
    web_port = str(Settings.model_fields["web_port"].default)
    assert f"{web_port}:{web_port}" in services["worker"]["ports"]
    # the declared defaults, not Settings(): the environment may point elsewhere
    assert Settings.model_fields["kafka_bootstrap"].default == f"127.0.0.1:{kafka_port}"
    assert Settings.model_fields["redis_url"].default == f"redis://127.0.0.1:{redis_port}/0"


def test_worker_environment_is_read_by_settings() -> None:
    environment = _compose()["services"]["worker"]["environment"]
    known = {f"LEADSCORE_{name.upper()}" for name in Settings.model_fields}
    assert set(environment) <= known, set(environment) - known
    settings = Settings(**{k.removeprefix("LEADSCORE_").lower(): v for k, v in environment.items()})
    assert settings.kafka_bootstrap == "kafka:9092"


def test_redis_persists_like_ops_stack() -> None:
    command = _compose()["services"]["redis"]["command"]
    assert command[1:3] == ["--appendonly", "yes"]
    assert "--appendfsync everysec" in STACK.read_text()


def test_prometheus_scrapes_the_worker() -> None:
    prometheus = _compose()["services"]["prometheus"]
    mount = next(v for v in prometheus["volumes"] if "prometheus.yml" in v)
    config = yaml.safe_load((ROOT / mount.split(":")[0]).read_text())
    targets = config["scrape_configs"][0]["static_configs"][0]["targets"]
    assert targets == [f"worker:{Settings.model_fields['web_port'].default}"]


def test_prometheus_loads_the_alert_rules() -> None:
    prometheus = _compose()["services"]["prometheus"]
    mounts = dict(v.split(":")[:2] for v in prometheus["volumes"])
    config_in_container = mounts["./ops/prometheus/prometheus.yml"]
    config = yaml.safe_load((ROOT / "ops" / "prometheus" / "prometheus.yml").read_text())
    for rule_file in config["rule_files"]:
        # rule_files are relative to the config file inside the container
        target = str(Path(config_in_container).parent / rule_file)
        source = next(src for src, dst in mounts.items() if dst == target)
        assert (ROOT / source).is_file(), source


def test_grafana_is_provisioned_from_ops_grafana() -> None:
    grafana = _compose()["services"]["grafana"]
    assert "3000:3000" in grafana["ports"]
    mounts = dict(v.split(":")[:2] for v in grafana["volumes"])
    assert mounts["./ops/grafana/provisioning"] == "/etc/grafana/provisioning"
    dashboards_dir = mounts["./ops/grafana/dashboards"]
    provider = yaml.safe_load(
        (ROOT / "ops/grafana/provisioning/dashboards/leadscore.yml").read_text()
    )
    assert provider["providers"][0]["options"]["path"] == dashboards_dir
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (ROOT / "ops/grafana/dashboards" / Path(home).name).is_file()
    source = yaml.safe_load(
        (ROOT / "ops/grafana/provisioning/datasources/prometheus.yml").read_text()
    )
    prometheus_port = _compose()["services"]["prometheus"]["ports"][0].split(":")[1]
    assert source["datasources"][0]["url"] == f"http://prometheus:{prometheus_port}"


def test_docker_compose_accepts_the_file_when_it_is_installed() -> None:
    """Where the compose plugin exists it has the last word; elsewhere the tests above stand in."""
    docker = shutil.which("docker")
    probe = (
        subprocess.run([docker or "docker", "compose", "version"], capture_output=True)
        if docker
        else None
    )
    if probe is None or probe.returncode != 0:
        pytest.skip("docker compose is not installed here")
    checked = subprocess.run(
        [str(docker), "compose", "-f", str(ROOT / "docker-compose.yml"), "config", "--quiet"],
        capture_output=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr.decode()


def test_the_sink_service_is_supervised_like_its_systemd_unit() -> None:
    sink = _compose()["services"]["sink"]
    assert sink["profiles"] == ["sink"]  # only on request: it needs a webhook URL
    assert sink["restart"] == "on-failure"
    assert "6067/healthz" in " ".join(sink["healthcheck"]["test"])
    assert "--http-port 6067" in sink["command"][-1]
    unit = (ROOT / "ops" / "systemd" / "leadscore-sink.service").read_text()
    assert "Restart=on-failure" in unit and "KillSignal=SIGTERM" in unit
    assert "leadscore sink webhook --url ${LEADSCORE_SINK_URL} --http-port 6067" in unit
    scrape = yaml.safe_load((ROOT / "ops" / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in scrape["scrape_configs"]}
    assert jobs["leadscore-sink"]["static_configs"][0]["targets"] == ["sink:6067"]


def test_the_cluster_profile_is_a_cluster_the_worker_can_use() -> None:
    services = _compose()["services"]
    nodes = [services[f"redis-node-{n}"] for n in (1, 2, 3)]
    for n, node in enumerate(nodes, 1):
        assert node["profiles"] == ["cluster"]
        command = node["command"]
        assert command[command.index("--cluster-enabled") + 1] == "yes"
        assert command[command.index("--appendonly") + 1] == "yes"  # as ops/stack's nodes
        assert command[command.index("--cluster-announce-hostname") + 1] == f"redis-node-{n}"
    create = services["redis-cluster-create"]["command"][0]
    assert all(f"getent hosts redis-node-{n}" in create for n in (1, 2, 3))
    worker = services["worker-cluster"]
    settings = Settings(
        **{k.removeprefix("LEADSCORE_").lower(): v for k, v in worker["environment"].items()}
    )
    assert settings.redis_cluster
    assert redis_nodes(settings.redis_url) == [f"redis://redis-node-{n}:6379/0" for n in (1, 2, 3)]
    assert settings.app_id != "leadscore"  # its own consumer group, beside the single-Redis one
    assert worker["depends_on"]["redis-cluster-create"] == {
        "condition": "service_completed_successfully"
    }
