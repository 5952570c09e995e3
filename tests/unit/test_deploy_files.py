"""The production compose file stays consistent with the CLI and the settings, and keeps
its data."""

import base64
import re
from pathlib import Path
from typing import Any

import yaml

from ioc.cli import build_parser
from ioc.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_compose_services_run_real_ioc_commands_with_known_settings() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"kafka", "timescaledb", "worker", "api", "migrate", "prometheus", "grafana"} <= set(services)
    assert "KAFKA_PROCESS_ROLES" in services["kafka"]["environment"]  # KRaft, no ZooKeeper
    parser = build_parser()
    known = {f"IOC_{name.upper()}" for name in Settings.model_fields}
    for name in ("worker", "api", "migrate", "simulator", "connect-dvc", "connect-payments",
                 "connect-sensors"):
        service = services[name]
        assert service["build"] == "."
        parser.parse_args(service["command"])  # exits on an unknown command or option
        env = service["environment"]
        assert set(env) <= known, set(env) - known
    assert (ROOT / "Dockerfile").exists()
    prometheus = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    assert {job["job_name"] for job in prometheus["scrape_configs"]} == {"ioc-api", "ioc-worker",
                                                                            "ioc-connectors"}


def test_grafana_dashboards_use_provisioned_datasources_real_metrics_and_tables() -> None:
    import json
    import re

    import prometheus_client

    import api.app  # noqa: F401 - registers the API's metrics
    import connectors.metrics  # noqa: F401
    import ioc.alerts.notifier  # noqa: F401
    import streams.metrics  # noqa: F401

    provisioned = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/datasources/datasources.yml").read_text())
    uids = {d["uid"] for d in provisioned["datasources"]}
    metrics = {m.name for m in prometheus_client.REGISTRY.collect()}
    migrations = "".join(p.read_text() for p in (ROOT / "ioc/storage/migrations").glob("*.sql"))
    tables = set(re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", migrations))
    dashboards = list((ROOT / "dashboards/grafana").glob("*.json"))
    assert len(dashboards) >= 2
    for path in dashboards:
        board = json.loads(path.read_text())
        assert board["uid"] and board["panels"]
        for panel in board["panels"]:
            assert panel["datasource"]["uid"] in uids
            for target in panel["targets"]:
                if "expr" in target:
                    used = set(re.findall(r"\b(ioc_[a-z_]+?)(?:_bucket|_total)?\b[\[{()]", target["expr"]))
                    assert used and used <= metrics, (path.name, used - metrics)
                else:
                    used = set(re.findall(r"FROM (\w+)", target["rawSql"]))
                    assert used and used <= tables, (path.name, used - tables)


def _volumes(service: dict[str, Any]) -> dict[str, str]:
    """Named volumes of a service: volume name -> mount point (bind mounts left out)."""
    mounts = {}
    for entry in service.get("volumes", []):
        source, target = entry.split(":")[:2]
        if not source.startswith((".", "/")):
            mounts[source] = target
    return mounts


def _default(value: str) -> str:
    """The value of ``${VAR:-default}``, or the value itself."""
    match = re.fullmatch(r"\$\{\w+:-([^}]*)\}", value)
    return match.group(1) if match else value


def test_compose_keeps_its_data_across_recreated_containers_and_restarts() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    declared = set(compose["volumes"])
    for name, service in services.items():
        assert set(_volumes(service)) <= declared, name
        if name != "migrate":  # the one one-shot service
            assert service.get("restart") in ("always", "unless-stopped"), name
    assert services["migrate"]["restart"] == "no"

    # Kafka's topics on its volume, formatted with a fixed cluster id
    kafka = services["kafka"]
    log_dirs = kafka["environment"]["KAFKA_LOG_DIRS"].split(",")
    mounted = _volumes(kafka).values()
    assert all(any(d == m or d.startswith(m.rstrip("/") + "/") for m in mounted) for d in log_dirs)
    cluster_id = _default(str(kafka["environment"]["CLUSTER_ID"]))
    assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16  # a Kafka UUID
    for stateful, where in (("timescaledb", "/var/lib/postgresql/data"), ("grafana", "/var/lib/grafana"),
                            ("prometheus", "/prometheus"), ("mosquitto", "/mosquitto/data")):
        assert where in _volumes(services[stateful]).values(), stateful


def test_the_images_data_dir_is_writable_by_its_user() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    user = re.findall(r"^USER (\S+)", dockerfile, re.M)[-1]
    owned = {d for line in re.findall(rf"chown(?: -R)? {user}(?::\S+)? ([^&\n]+)", dockerfile)
             for d in line.split()}
    image_data_dir = re.search(r"IOC_DATA_DIR=(\S+)", dockerfile)
    assert image_data_dir and image_data_dir.group(1) in owned
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for name, service in compose["services"].items():
        if service.get("build") != ".":
            continue
        data_dir = service["environment"].get("IOC_DATA_DIR", image_data_dir.group(1))
        for target in _volumes(service).values():
            # a named volume starts as a copy of the image's folder, with its owner
            assert target in owned, (name, target)
        if _volumes(service):
            assert data_dir in _volumes(service).values(), name
