"""`ioc up` keeps every part running: PostgreSQL, the Kafka broker, the MQTT broker, the
worker and the API are SIGKILLed one after another and each comes back, with one line saying
what died and what was done; the KPIs keep moving. A part that dies during start-up is named.

No timing is asserted beyond generous deadlines (the failover figure is measured by
bench/worker_failover.py)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psycopg
import pytest
from kafka.admin import KafkaAdminClient

from ioc.embedded.broker import EmbeddedBroker
from ioc.embedded.processes import free_port, wait_until
from ioc.settings import Settings
from ioc.storage.migrate import migrate
from ioc.topics import ensure_topics
from tests.integration.conftest import Services

pytestmark = pytest.mark.integration


class Up:
    """A running `ioc up`, its output read line by line in the background."""

    def __init__(self, data_dir: Path, *extra: str) -> None:
        self.data_dir, self.port = data_dir, free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ioc", "up", "--data-dir", str(data_dir), "--port",
             str(self.port), *extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "IOC_SIM_RATE": "20"})
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip())

    def wait_line(self, pattern: str, timeout_s: float = 120, after: int = 0) -> re.Match[str]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for line in self.lines[after:]:
                found = re.search(pattern, line)
                if found:
                    return found
            if self.proc.poll() is not None and not any(re.search(pattern, x) for x in self.lines):
                raise AssertionError(f"ioc up ended without {pattern!r}: {self.lines}")
            time.sleep(0.1)
        raise AssertionError(f"no line {pattern!r} in time: {self.lines}")

    def child(self, matches: Callable[[str], bool]) -> int:
        """The oldest child whose arguments match (a standby worker is younger than the worker)."""
        out = subprocess.run(["ps", "-ww", "--ppid", str(self.proc.pid), "-o", "pid=,etimes=,args="],
                             capture_output=True, text=True).stdout
        found = [(-int(age), int(pid)) for pid, age, args in
                 (line.strip().split(None, 2) for line in out.splitlines()) if matches(args)]
        assert found, out
        return min(found)[1]

    def kill(self, matches: Callable[[str], bool]) -> int:
        """SIGKILL the child that matches; returns the output position before the kill."""
        at = len(self.lines)
        os.kill(self.child(matches), signal.SIGKILL)
        return at

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=90)
        return self.proc.returncode


def eventually(check: Callable[[], bool], what: str, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"not in time: {what}")


def test_every_part_killed_is_restarted_and_the_kpis_keep_moving(tmp_path: Path) -> None:
    up = Up(tmp_path / "data")
    try:
        up.wait_line(r"^ioc: running")
        bootstrap = up.wait_line(r"Kafka broker \(tansu, memory\) ready on (\S+)")[1]
        tokens = json.loads((tmp_path / "data" / "credentials.json").read_text())
        base = f"http://127.0.0.1:{up.port}"
        headers = {"Authorization": f"Bearer {tokens['operator']}"}

        def readyz() -> int:
            try:
                return httpx.get(f"{base}/readyz", timeout=5).status_code
            except httpx.HTTPError:
                return 0

        def count() -> float:
            url = f"{base}/api/v1/kpis/payment.count/current"
            return float(httpx.get(url, headers=headers, timeout=5).json()["value"])

        def kpi_moves(what: str) -> None:
            first = count()
            eventually(lambda: count() > first, f"payment.count moves {what}")

        kpi_moves("at first")

        # PostgreSQL: /readyz says 503 while it is down, 200 once it is back
        at = up.kill(lambda args: "/postgres -D" in args)
        eventually(lambda: readyz() == 503, "/readyz 503 with the database down", 30)
        up.wait_line(r"^ioc: PostgreSQL exited \(code -9\); restarted in [\d.]+ s "
                     r"\(restart 1 in the last 10 min\)$", after=at)
        eventually(lambda: readyz() == 200, "/readyz 200 with the database back")
        kpi_moves("after PostgreSQL came back")

        # the Kafka broker comes back empty: topics made again, a fresh worker, counting on
        at = up.kill(lambda args: "--listener-url" in args)
        up.wait_line(r"^ioc: Kafka broker exited \(code -9\); restarted in [\d.]+ s, topics "
                     r"re-created, worker restarted \(restart 1 in the last 10 min\)$", after=at)
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="test")
        try:
            assert {"ioc.events", "ioc.events.deadletter", "ioc.kpi.changes"} <= set(admin.list_topics())
        finally:
            admin.close()
        kpi_moves("after the broker came back")

        at = up.kill(lambda args: "amqtt" in args)
        up.wait_line(r"^ioc: MQTT broker exited \(code -9\); restarted in", after=at)

        at = up.kill(lambda args: args.endswith("-m ioc api"))
        up.wait_line(r"^ioc: api exited \(code -9\); restarted in", after=at)
        eventually(lambda: readyz() == 200, "the API back")

        # part 4 of issue 12: after a worker SIGKILL the KPIs move again (the figure: bench)
        at = up.kill(lambda args: args.endswith("-m ioc worker"))
        up.wait_line(r"^ioc: worker exited \(code -9\); restarted in", after=at)
        kpi_moves("after the worker was killed")
    finally:
        code = up.stop()
        print("\n".join(up.lines))  # shown when the test fails
    assert code == 0, up.lines
    assert "ioc: stopped" in up.lines


def test_a_part_that_dies_during_start_up_is_named(tmp_path: Path) -> None:
    up = Up(tmp_path / "data", "--no-simulator")
    try:
        up.wait_line(r"^ioc: topics ready")
        up.kill(lambda args: "--listener-url" in args)
        assert up.proc.wait(timeout=60) == 1
    finally:
        if up.proc.poll() is None:
            up.stop()
    failed = up.wait_line(r"start-up failed: .*")[0]
    assert "Kafka broker exited (code -9)" in failed, up.lines
    assert "ioc: stopped" in up.lines


def test_a_worker_exits_when_the_broker_is_a_new_incarnation(services: Services,
                                                              tmp_path: Path) -> None:
    """Under any supervisor: its offsets belong to the incarnation it started on."""
    broker = EmbeddedBroker("127.0.0.1", free_port(), tmp_path / "broker.log")
    broker.start()
    settings = Settings(kafka_bootstrap=broker.bootstrap, topic_prefix="incarnation",
                        database_url=services.database_url("p_incarnation"), data_dir=tmp_path,
                        worker_id="kpi-incarnation")
    ensure_topics(settings)
    migrate(settings.database_url, layout="postgres")
    env = {**os.environ, "IOC_KAFKA_BOOTSTRAP": broker.bootstrap, "IOC_DATA_DIR": str(tmp_path),
           "IOC_DATABASE_URL": settings.database_url, "IOC_TOPIC_PREFIX": "incarnation",
           "IOC_WORKER_ID": "kpi-incarnation", "IOC_BROKER_CLUSTER_CHECK_S": "1"}
    with open(tmp_path / "worker.log", "ab") as log:
        worker = subprocess.Popen([sys.executable, "-m", "ioc", "worker"], env=env, stdout=log,
                                  stderr=subprocess.STDOUT)

    def beating() -> bool:
        with psycopg.connect(settings.database_url) as conn:
            return conn.execute("SELECT 1 FROM worker_heartbeats WHERE worker = 'kpi-incarnation'"
                                ).fetchone() is not None

    try:
        wait_until(beating, timeout_s=90, what="worker", alive=lambda: worker.poll() is None,
                   interval_s=0.25)
        first = broker.cluster_id
        broker.stop()
        broker.start()  # same port, empty, a new cluster id
        assert broker.cluster_id != first
        ensure_topics(settings)
        assert worker.wait(timeout=90) == 3, (tmp_path / "worker.log").read_text()[-3000:]
        assert "new incarnation" in (tmp_path / "worker.log").read_text()
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        broker.stop()
