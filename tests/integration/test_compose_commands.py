"""Every ``ioc`` sub-command docker-compose.yml runs, run here against the embedded parts with
the service's own IOC_* environment (``.env.example`` filled in, as a site would), rewriting
only where things are: host:port values, listen addresses and the container's data dir.

``migrate`` runs to completion (as the database owner, after the Grafana reader's init script,
as on a new TimescaleDB volume); then the worker, the API, the simulator and the three
connectors run side by side until each is ready (the simulator's events counted by the
worker, the DVC connector's dossiers accepted, the sensors connector connected with its MQTT
password), and are stopped. Grafana's role can then read every table and write none."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from ioc.embedded.mqtt import EmbeddedMqtt
from ioc.embedded.postgres import pg_bin_dir
from ioc.embedded.processes import free_port, http_ok, spawn_ioc, wait_until
from ioc.storage.heartbeats import last_seen
from ioc.storage.offsets import committed_total
from tests.compose import ROOT, compose_config, site_env
from tests.integration.conftest import Services, skip_without_timescaledb
from tests.integration.ioc_cli import run_ioc

pytestmark = pytest.mark.integration

IOC_SERVICES = {"migrate", "worker", "api", "simulator", "connect-dvc", "connect-payments", "connect-sensors"}


class Site:
    """Where compose's services are, on this machine."""

    def __init__(self, services: Services, mqtt: EmbeddedMqtt, dvc_port: int, root: Path) -> None:
        self.services, self.mqtt, self.dvc_port, self.root = services, mqtt, dvc_port, root
        self.ports: dict[str, dict[str, int]] = {}
        self.workdir = root / "workdir"  # the image's WORKDIR
        self.workdir.mkdir()

    def database_url(self, compose_url: str) -> str:
        parts = urlsplit(compose_url)
        netloc = parts.netloc.replace(f"{parts.hostname}:{parts.port}",
                                      f"127.0.0.1:{self.services.postgres.port}")
        return urlunsplit(parts._replace(netloc=netloc, path="/compose_site"))

    def localise(self, name: str, service: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
        """The service's command and IOC_* environment (over the image's), with this machine's
        addresses."""
        env = {**image_env(), **{k: str(v) for k, v in service["environment"].items()}}
        ports = self.ports.setdefault(name, {})
        for key, value in list(env.items()):
            if key == "IOC_KAFKA_BOOTSTRAP":
                env[key] = self.services.broker.bootstrap
            elif key == "IOC_DATABASE_URL":
                env[key] = self.database_url(value)
            elif key == "IOC_MQTT_HOST":
                env[key] = self.mqtt.host
            elif key == "IOC_MQTT_PORT":
                env[key] = str(self.mqtt.port)
            elif key == "IOC_DVC_URL":
                env[key] = f"http://127.0.0.1:{self.dvc_port}"
            elif key.endswith("_HOST") and value == "0.0.0.0":
                env[key] = "127.0.0.1"
            elif key.endswith("_PORT") and key != "IOC_SMTP_PORT":
                ports[key] = free_port()
                env[key] = str(ports[key])
            elif key == "IOC_DATA_DIR":  # the container's volume, or the image's folder
                env[key] = str(self.root / name)
                (self.root / name).mkdir(exist_ok=True)
        command = [str(part) for part in service["command"]]
        for option in ("--port", "--host"):
            if option in command:
                i = command.index(option) + 1
                if option == "--port":
                    ports[option] = free_port()
                command[i] = str(ports[option]) if option == "--port" else "127.0.0.1"
        return command, env


def image_env() -> dict[str, str]:
    """The IOC_* variables the Dockerfile's final image sets (ENV lines after the last FROM)."""
    final = (ROOT / "Dockerfile").read_text().rsplit("\nFROM ", 1)[-1]
    return {k: v for line in re.findall(r"^ENV (.+)$", final, re.M)
            for k, v in re.findall(r"(IOC_\w+)=(\S+)", line)}


def _run_env(env: dict[str, str]) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("IOC_")}
    return {**clean, **env, "PYTHONUNBUFFERED": "1"}


@pytest.fixture
def mqtt(tmp_path: Path) -> Iterator[EmbeddedMqtt]:
    broker = EmbeddedMqtt("127.0.0.1", free_port(), tmp_path / "mqtt")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def _owner_database(services: Services, url: str) -> None:
    """The TimescaleDB image's database: owned by POSTGRES_USER, a superuser, with its password."""
    parts = urlsplit(url)
    with psycopg.connect(services.postgres.admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (parts.username,)).fetchone():
            conn.execute(f'CREATE ROLE "{parts.username}" SUPERUSER LOGIN')
        conn.execute(f"ALTER ROLE \"{parts.username}\" PASSWORD '{parts.password}'")
        conn.execute("DROP DATABASE IF EXISTS compose_site WITH (FORCE)")
        conn.execute("DROP ROLE IF EXISTS grafana_reader")
        conn.execute(f'CREATE DATABASE compose_site OWNER "{parts.username}"')


def _grafana_init(url: str, password: str) -> None:
    """deploy/timescaledb/100-grafana-reader.sh's psql call."""
    psql = pg_bin_dir() / "psql"
    subprocess.run([str(psql), url, "-q", "-v", "ON_ERROR_STOP=1", "-v", f"reader_password={password}",
                    "-f", str(ROOT / "deploy" / "timescaledb" / "grafana-reader.sql")],
                   check=True, capture_output=True, timeout=60)


def _metrics(port: int) -> str:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            return str(response.read().decode())
    except OSError:
        return ""


def test_every_ioc_command_of_the_compose_file_runs_with_its_environment(
        services: Services, mqtt: EmbeddedMqtt, tmp_path: Path) -> None:
    skip_without_timescaledb(services)  # compose runs IOC_STORAGE_LAYOUT=timescaledb
    env_file = site_env()
    config = compose_config(env_file, ("sources", "demo"))
    ioc = {name: s for name, s in config["services"].items() if s.get("build") == "."}
    assert set(ioc) == IOC_SERVICES
    site = Site(services, mqtt, free_port(), tmp_path)
    _, migrate_env = site.localise("migrate", ioc["migrate"])
    owner_url = migrate_env["IOC_DATABASE_URL"]
    _owner_database(services, owner_url)
    _grafana_init(owner_url, env_file["GRAFANA_DB_PASSWORD"])

    command, env = site.localise("migrate", ioc["migrate"])
    done = run_ioc(*command, env=_run_env(env), timeout_s=180, cwd=site.workdir)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "topics created" in done.stdout and "storage layout timescaledb" in done.stdout, done.stdout

    # the DVC connector's upstream: the fake administrative-procedure system, same token
    procs: dict[str, subprocess.Popen[bytes]] = {}
    logs: dict[str, Path] = {}

    def start(name: str, command: list[str], env: dict[str, str]) -> None:
        logs[name] = tmp_path / f"{name}.log"
        procs[name] = spawn_ioc(*command, log_file=logs[name], env=_run_env(env), cwd=site.workdir)

    _, dvc_env = site.localise("connect-dvc", ioc["connect-dvc"])
    start("fake-dvc", ["connect", "fake-dvc", "--port", str(site.dvc_port), "--rate", "20"],
          {k: v for k, v in dvc_env.items() if k in ("IOC_DVC_TOKEN", "IOC_LOG_LEVEL")})
    try:
        for name in sorted(IOC_SERVICES - {"migrate"}):
            start(name, *site.localise(name, ioc[name]))
        ports = site.ports

        def alive(name: str) -> Any:
            return lambda: procs[name].poll() is None

        def counted() -> bool:
            with psycopg.connect(owner_url) as conn:
                return committed_total(conn) > 0

        def heartbeat() -> bool:
            with psycopg.connect(owner_url) as conn:
                return last_seen(conn) is not None

        ready = {
            "api": lambda: http_ok(f"http://127.0.0.1:{ports['api']['--port']}/readyz"),
            "worker": lambda: heartbeat() and http_ok(
                f"http://127.0.0.1:{ports['worker']['IOC_WORKER_METRICS_PORT']}/metrics"),
            "simulator": counted,  # its events reached the worker, which counted them
            "connect-payments": lambda: http_ok(
                f"http://127.0.0.1:{ports['connect-payments']['IOC_PAYMENTS_PORT']}/healthz"),
            "connect-dvc": lambda: bool(re.search(
                r'ioc_connector_events_total\{[^}]*outcome="accepted"[^}]*\} [1-9]',
                _metrics(ports["connect-dvc"]["IOC_CONNECTOR_METRICS_PORT"]))),
            "connect-sensors": lambda: "connected to the MQTT broker" in logs["connect-sensors"].read_text()
            and http_ok(f"http://127.0.0.1:{ports['connect-sensors']['IOC_CONNECTOR_METRICS_PORT']}/metrics"),
        }
        for name, check in ready.items():
            wait_until(check, timeout_s=120, what=f"{name} ({logs[name]})", alive=alive(name), interval_s=0.5)
        for name in ready:
            assert procs[name].poll() is None, (name, logs[name].read_text()[-2000:])
    finally:
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
        for name, proc in procs.items():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                pytest.fail(f"{name} did not stop on SIGTERM")

    # Grafana's role: every table readable, none writable
    parts = urlsplit(owner_url)
    reader_url = urlunsplit(parts._replace(
        netloc=f"grafana_reader:{env_file['GRAFANA_DB_PASSWORD']}@{parts.hostname}:{parts.port}"))
    with psycopg.connect(owner_url) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1").fetchall()]
    assert {"kpi_1m", "event_ledger", "consumer_offsets"} <= set(tables)
    with psycopg.connect(reader_url, autocommit=True) as conn:
        for table in tables:
            conn.execute(f"SELECT count(*) FROM {table}").fetchone()
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("DELETE FROM consumer_offsets")
        conn.execute("SET default_transaction_read_only = off")  # a session may lift it, but
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # has no right to write
            conn.execute("DELETE FROM consumer_offsets")


def test_a_database_without_the_migrations_is_one_line_saying_to_migrate(services: Services) -> None:
    url = services.create_database("never_migrated")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("IOC_")}
    result = run_ioc("keys", "list", env={**clean, "IOC_DATABASE_URL": url})
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip() == (
        f"ioc keys list: the database has no such table (IOC_DATABASE_URL={url}): "
        'relation "api_tokens" does not exist; run `ioc migrate` first')
