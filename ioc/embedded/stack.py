"""``ioc up``: the whole system on one machine, in the foreground, supervised."""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import IO

import psycopg

from ioc.credentials import ensure_credentials
from ioc.embedded.broker import EmbeddedBroker
from ioc.embedded.logfiles import LogLimit
from ioc.embedded.mqtt import EmbeddedMqtt
from ioc.embedded.postgres import EmbeddedPostgres
from ioc.embedded.processes import free_port, http_ok, port_free, spawn, stop, wait_until
from ioc.settings import Settings
from ioc.storage.layout import layout_of
from ioc.storage.migrate import migrate
from ioc.topics import ensure_topics

MAX_RESTARTS = 5


class StackError(RuntimeError):
    """A start-up failure with a one-line explanation of what to do."""


@dataclass
class Child:
    name: str
    args: list[str]
    log_file: Path
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = 0.0


@dataclass
class Stack:
    settings: Settings
    data_dir: Path
    port: int
    simulator: bool
    out: IO[str] = field(default_factory=lambda: sys.stdout)
    postgres: EmbeddedPostgres | None = None
    broker: EmbeddedBroker | None = None
    mqtt: EmbeddedMqtt | None = None
    sources_env: dict[str, str] = field(default_factory=dict)
    children: list[Child] = field(default_factory=list)
    _lock_file: IO[str] | None = None
    _stopping: bool = False
    _started: bool = False

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    # -- start ------------------------------------------------------------------------
    def lock(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        handle = open(self.data_dir / "ioc.lock", "a+")  # noqa: SIM115 - held while running
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise StackError(f"data dir {self.data_dir} is in use by a running `ioc up` "
                             f"(pid {holder}); stop it first or pass --data-dir") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._lock_file = handle

    def child_env(self) -> dict[str, str]:
        assert self.postgres is not None and self.broker is not None
        env = dict(os.environ)
        env.update({
            "IOC_KAFKA_BOOTSTRAP": self.broker.bootstrap,
            "IOC_DATABASE_URL": self.postgres.url,
            "IOC_DATA_DIR": str(self.data_dir),
            "IOC_API_HOST": self.settings.api_host,
            "IOC_API_PORT": str(self.port),
            "IOC_SIM_RATE": str(self.settings.sim_rate),
            "PYTHONUNBUFFERED": "1",
            **self.sources_env,
        })
        return env

    def start_sources(self) -> list[str]:
        """The simulator's way in, as real sources come: an MQTT broker for the stations, the
        three connectors, and the simulator serving a fake administrative-procedure system."""
        self.mqtt = EmbeddedMqtt("127.0.0.1", free_port(), self.data_dir / "mqtt",
                                 log_limit=LogLimit.of(self.settings))
        self.mqtt.start()
        secrets = ensure_source_secrets(self.data_dir / "source-secrets.json")
        dvc_port = free_port()
        self.sources_env = {
            "IOC_SIM_VIA": "connectors", "IOC_SIM_DVC_PORT": str(dvc_port),
            "IOC_DVC_URL": f"http://127.0.0.1:{dvc_port}", "IOC_DVC_TOKEN": secrets["dvc_token"],
            "IOC_DVC_POLL_INTERVAL_S": "1",
            "IOC_PAYMENTS_PORT": str(free_port()),
            "IOC_PAYMENTS_WEBHOOK_SECRET": secrets["payments_webhook_secret"],
            "IOC_MQTT_PORT": str(self.mqtt.port),
        }
        self.say(f"ioc: MQTT broker (amqtt) ready on 127.0.0.1:{self.mqtt.port}; the simulator "
                 f"sends through the connectors (dvc, payments webhooks, MQTT sensors)")
        return ["connect dvc", "connect payments", "connect sensors", "simulate"]

    def start(self) -> dict[str, str]:
        started = time.monotonic()
        self.lock()
        if not port_free(self.settings.api_host, self.port):
            raise StackError(f"port {self.port} on {self.settings.api_host} is in use; "
                             f"stop what uses it or pass --port N")
        logs = self.data_dir / "logs"
        self.say(f"ioc: data dir {self.data_dir.resolve()}, logs in {logs.resolve()}")
        self.postgres = EmbeddedPostgres(self.data_dir / "postgres", free_port(),
                                         logs / "postgres.log", log_limit=LogLimit.of(self.settings))
        self.postgres.start()
        self.say(f"ioc: PostgreSQL ready on 127.0.0.1:{self.postgres.port} "
                 f"({time.monotonic() - started:.1f} s)")
        self.broker = EmbeddedBroker("127.0.0.1", free_port(), logs / "broker.log",
                                     log_limit=LogLimit.of(self.settings))
        self.broker.start()
        self.say(f"ioc: Kafka broker (tansu, memory) ready on {self.broker.bootstrap} "
                 f"({time.monotonic() - started:.1f} s)")
        child_settings = self.settings.model_copy(update={
            "kafka_bootstrap": self.broker.bootstrap, "database_url": self.postgres.url})
        ensure_topics(child_settings)
        applied = migrate(self.postgres.url, layout=self.settings.storage_layout)
        self.say(f"ioc: topics ready, migrations applied: {applied or 'none pending'}, "
                 f"storage layout: {layout_of(self.postgres.url)}")
        tokens = ensure_credentials(self.data_dir / "credentials.json", self.postgres.url)
        since = datetime.now(UTC)
        python = sys.executable
        names = ["worker", "api"] + (self.start_sources() if self.simulator else [])
        for name in names:
            child = Child(name, [python, "-m", "ioc", *name.split()],
                          logs / f"{name.replace(' ', '-')}.log")
            self.children.append(child)
            self._spawn(child)
        base = f"http://{self.settings.api_host}:{self.port}"
        wait_until(lambda: http_ok(f"{base}/readyz"), timeout_s=60, what="API",
                   alive=self._children_alive, interval_s=0.2)
        wait_until(lambda: _worker_seen(self.postgres.url if self.postgres else "", since),
                   timeout_s=90, what="stream worker", alive=self._children_alive, interval_s=0.25)
        self.say(f"ioc: ready in {time.monotonic() - started:.1f} s")
        self.say("")
        self.say(f"  Wall:     {base}/wall?token={tokens['operator']}")
        self.say(f"  API docs: {base}/docs")
        self.say("  Tokens (also in " + str((self.data_dir / 'credentials.json').resolve()) + "):")
        for role, token in tokens.items():
            self.say(f"    {role:<10} {token}")
        self.say("")
        self.say("ioc: running; Ctrl-C stops everything.")
        self._started = True
        return tokens

    def _spawn(self, child: Child) -> None:
        child.proc = spawn(child.args, log_file=child.log_file, env=self.child_env(),
                           log_limit=LogLimit.of(self.settings))
        child.started_at = time.monotonic()

    def _children_alive(self) -> bool:
        return all(c.proc is not None and c.proc.poll() is None for c in self.children)

    # -- run --------------------------------------------------------------------------
    def supervise(self) -> int:
        """Restart crashed children; stop everything on a signal or if a service dies."""
        while not self._stopping:
            time.sleep(0.5)
            for service in (self.postgres, self.broker, self.mqtt):
                if service is not None and service.proc is not None and service.proc.poll() is not None:
                    self.say(f"ioc: {type(service).__name__} exited "
                             f"(code {service.proc.returncode}); stopping")
                    return 1
            for child in self.children:
                if child.proc is None or child.proc.poll() is None or self._stopping:
                    continue
                if child.restarts >= MAX_RESTARTS:
                    self.say(f"ioc: {child.name} keeps failing; see {child.log_file}")
                    return 1
                child.restarts += 1
                self.say(f"ioc: {child.name} exited (code {child.proc.returncode}); "
                         f"restart {child.restarts}/{MAX_RESTARTS}")
                time.sleep(min(2 ** child.restarts, 10))
                self._spawn(child)
        return 0

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        self._stopping = True
        if not self._started:
            raise KeyboardInterrupt  # abandon start-up; run_up shuts down what started

    def shutdown(self) -> None:
        self._stopping = True
        for child in reversed(self.children):
            if child.proc is not None:
                stop(child.proc, timeout_s=20)
        if self.mqtt is not None:
            self.mqtt.stop()
        if self.broker is not None:
            self.broker.stop()
        if self.postgres is not None:
            self.postgres.stop()
        if self._lock_file is not None:
            self._lock_file.close()


def ensure_source_secrets(path: Path) -> dict[str, str]:
    """The demo sources' shared secrets (webhook HMAC key, DVC API token), made once."""
    if path.exists():
        loaded: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
        return loaded
    made = {"payments_webhook_secret": secrets.token_urlsafe(32), "dvc_token": secrets.token_urlsafe(24)}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(made, indent=2) + "\n", encoding="utf-8")
    os.chmod(tmp, 0o600)
    tmp.replace(path)
    return made


def _worker_seen(database_url: str, since: datetime) -> bool:
    try:
        with psycopg.connect(database_url, connect_timeout=2) as conn:
            row = conn.execute("SELECT max(seen_at) FROM worker_heartbeats").fetchone()
    except psycopg.Error:
        return False
    return bool(row and row[0] and row[0] >= since)


def run_up(settings: Settings, *, port: int, data_dir: Path, simulator: bool) -> int:
    stack = Stack(settings, data_dir, port, simulator)
    signal.signal(signal.SIGTERM, stack.request_stop)
    signal.signal(signal.SIGINT, stack.request_stop)
    try:
        stack.start()
        code = stack.supervise()
    except KeyboardInterrupt:
        code = 130
    except StackError as exc:
        print(f"ioc: {exc}", file=sys.stderr)
        code = 1
    except (RuntimeError, TimeoutError, OSError, subprocess.CalledProcessError) as exc:
        print(f"ioc: start-up failed: {exc} (logs in {data_dir / 'logs'})", file=sys.stderr)
        code = 1
    finally:
        stack.say("ioc: stopping")
        stack.shutdown()
        stack.say("ioc: stopped")
    return code

