"""`ioc up` keeps every part running: PostgreSQL, the Kafka broker, the MQTT broker, the
worker and the API are SIGKILLed one after another and each comes back, with one line saying
what died and what was done; the KPIs keep moving. A part that dies during start-up is named.

No timing is asserted beyond generous deadlines (the failover figure is measured by
bench/worker_failover.py)."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from kafka.admin import KafkaAdminClient

from ioc.embedded.child_env import child_env
from ioc.embedded.processes import spawn_ioc, stop, wait_until
from ioc.settings import Settings
from ioc.storage.heartbeats import seen_since
from ioc.storage.migrate import migrate
from ioc.topics import ensure_topics
from tests.integration.conftest import Services, own_broker
from tests.integration.ioc_cli import Up

pytestmark = pytest.mark.integration


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
        tokens = up.tokens()
        base = up.base_url
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
    with own_broker(services, "incarnation") as broker:
        settings = Settings(kafka_bootstrap=broker.bootstrap, topic_prefix="incarnation",
                            database_url=services.create_database("p_incarnation"),
                            data_dir=tmp_path, worker_id="kpi-incarnation",
                            broker_cluster_check_s=1)
        ensure_topics(settings)
        migrate(settings.database_url, layout="postgres")
        since, log = datetime.now(UTC), tmp_path / "worker.log"
        worker = spawn_ioc("worker", log_file=log, env=child_env(settings))
        try:
            wait_until(lambda: seen_since(settings.database_url, since, settings.worker_id),
                       timeout_s=90, what="worker", alive=lambda: worker.poll() is None,
                       interval_s=0.25)
            first = broker.cluster_id
            broker.stop()
            broker.start()  # same port, empty, a new cluster id
            assert broker.cluster_id != first
            ensure_topics(settings)
            assert worker.wait(timeout=90) == 3, log.read_text()[-3000:]
            wait_until(lambda: "new incarnation" in log.read_text(), timeout_s=30,
                       what="the worker's last words in its log")  # copied by a thread
        finally:
            stop(worker, sig=signal.SIGKILL)
