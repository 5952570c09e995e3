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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import IO

import psycopg

from ioc.embedded.broker import EmbeddedBroker
from ioc.embedded.budget import MemoryGuard
from ioc.embedded.child_env import child_env as env_of
from ioc.embedded.logfiles import LogLimit
from ioc.embedded.mqtt import EmbeddedMqtt
from ioc.embedded.postgres import EmbeddedPostgres
from ioc.embedded.processes import free_port, http_ok, port_free, spawn_ioc, stop, wait_until
from ioc.embedded.restarts import RestartBudget, RestartPolicy
from ioc.embedded.services import prepare, services_at
from ioc.settings import Settings
from ioc.storage.heartbeats import seen_since
from ioc.storage.layout import layout_of
from ioc.topics import ensure_topics

ANNOUNCE_AFTER_S = 5.0
"""A restart due later than this is announced when the part dies, not when it is back."""
STANDBY_AFTER_S = 10.0
"""A fresh standby worker is started once the worker has run this long (not while it joins)."""
EMBEDDED_SESSION_TIMEOUT_S = 3.0
"""The workers' consumer-group session timeout on the embedded broker (docs/design.md)."""


class StackError(RuntimeError):
    """A start-up failure with a one-line explanation of what to do."""


@dataclass
class Part:
    """A supervised process: a service (PostgreSQL, a broker) or an ``ioc <name>`` child."""

    name: str
    log_file: Path
    launch: Callable[[], subprocess.Popen[bytes]]  # starts it (and waits until it serves)
    budget: RestartBudget
    proc: subprocess.Popen[bytes] | None = None
    due_at: float | None = None  # a restart is scheduled
    died: str = ""  # "exited (code -9)", kept until the restart is reported
    note: str = ""  # "restart 1 in the last 10 min"
    died_at: float = 0.0
    announced: bool = False

    started_at: float = 0.0

    def start(self) -> None:
        self.proc = self.launch()
        self.budget.started()
        self.started_at = time.monotonic()

    def dead(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None


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
    parts: list[Part] = field(default_factory=list)
    standby: tuple[subprocess.Popen[bytes], Path] | None = None  # a worker waiting for its file
    clock: Callable[[], float] = time.monotonic
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
        return env_of(self.child_settings(), {"PYTHONUNBUFFERED": "1", **self.sources_env})

    def start_sources(self) -> list[str]:
        """The simulator's way in, as real sources come: an MQTT broker for the stations, the
        three connectors, and the simulator serving a fake administrative-procedure system."""
        self.mqtt = EmbeddedMqtt("127.0.0.1", free_port(), self.data_dir / "mqtt")
        self._service("MQTT broker", self.data_dir / "mqtt" / "mqtt.log", self.mqtt)
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

    def _policy(self) -> RestartPolicy:
        st = self.settings
        return RestartPolicy(st.restart_initial_delay_s, st.restart_max_delay_s,
                             st.restart_healthy_after_s, st.restart_window_s, st.restart_max_in_window)

    def _service(self, name: str, log_file: Path,
                 service: EmbeddedPostgres | EmbeddedBroker | EmbeddedMqtt) -> None:
        """Start a service (same host, port and data on every restart) and supervise it."""
        service.log_limit = LogLimit.of(self.settings)
        def launch() -> subprocess.Popen[bytes]:
            try:
                service.start()
            except BaseException:
                if service.proc is not None:  # started but never served: gone for good
                    stop(service.proc, sig=signal.SIGKILL)
                raise
            assert service.proc is not None
            return service.proc
        part = Part(name, log_file, launch, RestartBudget(self._policy(), self.clock))
        self.parts.append(part)
        part.start()

    def _child(self, name: str, log_file: Path) -> None:
        def launch() -> subprocess.Popen[bytes]:
            standby, self.standby = self.standby, None
            if name == "worker" and standby is not None and standby[0].poll() is None:
                standby[1].touch()  # go: its imports are done, it starts in about a second
                return standby[0]
            return spawn_ioc(*name.split(), log_file=log_file, env=self.child_env(),
                             log_limit=LogLimit.of(self.settings))
        part = Part(name, log_file, launch, RestartBudget(self._policy(), self.clock))
        self.parts.append(part)
        part.start()

    def start(self) -> dict[str, str]:
        started = time.monotonic()
        self.lock()
        if not port_free(self.settings.api_host, self.port):
            raise StackError(f"port {self.port} on {self.settings.api_host} is in use; "
                             f"stop what uses it or pass --port N")
        logs = self.data_dir / "logs"
        self.say(f"ioc: data dir {self.data_dir.resolve()}, logs in {logs.resolve()}")
        services = services_at(self.data_dir, log_dir=logs)
        self.postgres, self.broker = services.postgres, services.broker
        self._service("PostgreSQL", logs / "postgres.log", self.postgres)
        self.say(f"ioc: PostgreSQL ready on 127.0.0.1:{self.postgres.port} "
                 f"({time.monotonic() - started:.1f} s)")
        self._service("Kafka broker", logs / "broker.log", self.broker)
        self.say(f"ioc: Kafka broker (tansu, memory) ready on {self.broker.bootstrap} "
                 f"({time.monotonic() - started:.1f} s)")
        url = self.postgres.url
        def migrated(applied: list[int]) -> None:
            self.say(f"ioc: topics ready, migrations applied: {applied or 'none pending'}, "
                     f"storage layout: {layout_of(url)}")
        tokens = prepare(self.child_settings(), self.data_dir / "credentials.json", migrated=migrated)
        since = datetime.now(UTC)
        names = ["worker", "api"] + (self.start_sources() if self.simulator else [])
        for name in names:
            self.check_alive()
            self._child(name, logs / f"{name.replace(' ', '-')}.log")
        base = f"http://{self.settings.api_host}:{self.port}"
        wait_until(lambda: http_ok(f"{base}/readyz"), timeout_s=60, what="API",
                   alive=self.check_alive, interval_s=0.2)
        wait_until(lambda: seen_since(url, since),
                   timeout_s=90, what="stream worker", alive=self.check_alive, interval_s=0.25)
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
        MemoryGuard(lambda: self.broker.proc if self.broker else None,
                    self.settings.broker_memory_limit_mb, self.say).watch(
            self.settings.broker_memory_check_s, lambda: self._stopping)
        return tokens

    def child_settings(self) -> Settings:
        """Ours, on our services and port; the intake journal on, since the broker keeps
        records in memory only (what is acknowledged is journaled in PostgreSQL until counted,
        and re-sent to a restarted broker); a short session timeout, so a SIGKILLed worker's
        partitions go to its successor sooner (unless set)."""
        assert self.postgres is not None and self.broker is not None
        update: dict[str, object] = {
            "kafka_bootstrap": self.broker.bootstrap, "database_url": self.postgres.url,
            "data_dir": self.data_dir, "api_port": self.port, "intake_journal": True}
        if "broker_session_timeout_s" not in self.settings.model_fields_set:
            update["broker_session_timeout_s"] = EMBEDDED_SESSION_TIMEOUT_S
        return self.settings.model_copy(update=update)

    def dead_parts(self) -> str:
        """'Kafka broker exited (code -9), see …/broker.log', or '' when all are alive."""
        return "; ".join(f"{p.name} exited (code {p.proc.returncode}), see {p.log_file}"
                         for p in self.parts if p.dead() and p.proc is not None)

    def check_alive(self) -> bool:
        """During start-up: every part started so far still runs, else fail naming it."""
        dead = self.dead_parts()
        if dead:
            raise StackError(f"start-up failed: {dead}")
        return True

    # -- run --------------------------------------------------------------------------
    def _keep_standby(self) -> None:
        """A standby worker, imported and idle, replaces a dead worker without a cold start."""
        if self.standby is not None and self.standby[0].poll() is None:
            return
        worker = next((p for p in self.parts if p.name == "worker"), None)
        if worker is None or worker.proc is None or worker.proc.poll() is not None \
                or self.clock() - worker.started_at < STANDBY_AFTER_S:
            return
        go = self.data_dir / "run" / f"worker-go-{secrets.token_hex(4)}"
        go.parent.mkdir(parents=True, exist_ok=True)
        go.unlink(missing_ok=True)
        env = {**self.child_env(), "IOC_WORKER_STANDBY_FILE": str(go)}
        self.standby = (spawn_ioc("worker", log_file=worker.log_file, env=env,
                                  log_limit=LogLimit.of(self.settings)), go)

    def supervise(self) -> int:
        """Restart every part that dies, with backoff and a budget per window; until a signal."""
        while not self._stopping:
            time.sleep(0.1)
            self._keep_standby()
            for part in self.parts:
                if self._stopping:
                    break
                if part.due_at is None and part.dead():
                    self._schedule(part, f"exited (code {part.proc.returncode if part.proc else '?'})")
                if part.due_at is not None and self.clock() >= part.due_at:
                    self._restart(part)
        return 0

    def _schedule(self, part: Part, what: str, failed: str = "") -> None:
        verdict = part.budget.exited()
        part.due_at = self.clock() + verdict.delay_s
        if not part.died:
            part.died, part.died_at = what, self.clock()
        window = f"{self.settings.restart_window_s / 60:g} min"
        part.note = f"restart {verdict.in_window} in the last {window}"
        if verdict.over_budget:
            part.note += (f"; budget of {self.settings.restart_max_in_window} per {window} "
                          f"used up, see {part.log_file}")
        part.announced = bool(failed) or verdict.delay_s > ANNOUNCE_AFTER_S
        if failed:
            self.say(f"ioc: {part.name} did not come back ({failed}); next try in "
                     f"{verdict.delay_s:.0f} s ({part.note})")
        elif part.announced:
            self.say(f"ioc: {part.name} {part.died}; restarting in {verdict.delay_s:.0f} s "
                     f"({part.note})")
        if part.name == "Kafka broker":  # a worker must not outlive its broker incarnation
            for worker in self.parts:
                if worker.name == "worker" and worker.proc is not None:
                    stop(worker.proc, sig=signal.SIGKILL)
                    worker.proc, worker.due_at, worker.died = None, None, ""

    def _restart(self, part: Part) -> None:
        part.due_at = None
        try:
            part.start()
            if part.name == "Kafka broker":
                ensure_topics(self.child_settings())
        except Exception as exc:  # any failure to come back is retried
            if part.proc is not None and part.proc.poll() is None:
                stop(part.proc, sig=signal.SIGKILL)
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            self._schedule(part, part.died, failed=reason)
            return
        done = f"restarted in {self.clock() - part.died_at:.1f} s"
        if part.name == "Kafka broker":
            waiting = [w for w in self.parts if w.name == "worker" and w.proc is None]
            for worker in waiting:
                worker.start()
            done += ", topics re-created" + (", worker restarted" if waiting else "")
        if part.announced:
            self.say(f"ioc: {part.name} is back: {done}")
        else:
            self.say(f"ioc: {part.name} {part.died}; {done} ({part.note})")
        part.died, part.announced = "", False

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        self._stopping = True
        if not self._started:
            raise KeyboardInterrupt  # abandon start-up; run_up shuts down what started

    def shutdown(self) -> None:
        self._stopping = True
        if self.standby is not None:
            stop(self.standby[0], timeout_s=5)
        for part in reversed(self.parts):
            if part.name in {"PostgreSQL", "Kafka broker", "MQTT broker"}:
                continue  # services stop last, in their own order
            if part.proc is not None:
                stop(part.proc, timeout_s=20)
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
    except (RuntimeError, TimeoutError, OSError, subprocess.CalledProcessError, psycopg.Error) as exc:
        dead = stack.dead_parts()  # the cause, when a part died under what failed
        print(f"ioc: start-up failed: {dead or exc} (logs in {data_dir / 'logs'})", file=sys.stderr)
        code = 1
    finally:
        stack.say("ioc: stopping")
        stack.shutdown()
        stack.say("ioc: stopped")
    return code

