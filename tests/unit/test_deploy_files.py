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
