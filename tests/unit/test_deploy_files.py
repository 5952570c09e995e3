"""The production compose file stays consistent with the CLI and the settings."""

from pathlib import Path

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
