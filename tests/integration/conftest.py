"""Real embedded PostgreSQL and Kafka-protocol broker, started once per test session.

Each test module that needs the pipeline gets its own database and topic prefix, with its
own stream worker and API processes, so KPI totals start from zero.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from kafka import KafkaConsumer

from connectors.publisher import EventPublisher, event_key
from ioc.embedded.broker import EmbeddedBroker
from ioc.embedded.child_env import child_env
from ioc.embedded.processes import free_port, http_ok, spawn_ioc, stop, wait_until
from ioc.embedded.services import EmbeddedServices, embedded_services, prepare
from ioc.settings import Settings
from ioc.storage.heartbeats import seen_since
from ioc.storage.layout import RequestedLayout, timescaledb_missing
from ioc.storage.offsets import committed_positions
from ioc.topics import ensure_topics

pytestmark = pytest.mark.integration

Services = EmbeddedServices
"""The session's PostgreSQL and broker, as the tests call them (ioc/embedded/services.py)."""

LAYOUTS: list[RequestedLayout] = ["postgres", "timescaledb"]
"""The storage layouts a test module runs on (``params=LAYOUTS``, see :func:`layout_pipeline`)."""


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    with embedded_services(tmp_path_factory.mktemp("stack")) as started:
        yield started


@contextmanager
def own_broker(services: Services, name: str) -> Iterator[EmbeddedBroker]:
    """A broker of its own (the test may kill it and start it again on its port), beside the
    session's PostgreSQL; stopped on the way out."""
    broker = EmbeddedBroker("127.0.0.1", free_port(), services.root / "logs" / f"{name}-broker.log")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def skip_without_timescaledb(services: Services) -> None:
    """Skip, saying why, when the embedded PostgreSQL has no TimescaleDB; fail instead when
    IOC_TEST_REQUIRE_TIMESCALEDB is set (CI sets it once it built the extension, so these
    tests cannot silently skip there)."""
    with psycopg.connect(services.postgres.admin_url) as conn:
        missing = timescaledb_missing(conn)
    if missing and os.environ.get("IOC_TEST_REQUIRE_TIMESCALEDB"):
        pytest.fail(f"TimescaleDB was built for this run, yet {missing}")
    if missing:
        pytest.skip(f"TimescaleDB layout not tested: {missing} (it is not on PyPI; build it "
                    "with ../shared/tools/timescaledb/build.sh .venv, as .ci/run does when "
                    "../shared is there, or against the embedded pg_config, see docs/design.md)")


@dataclass
class Pipeline:
    name: str
    settings: Settings
    cluster_id: str
    tokens: dict[str, str]
    root: Path
    api_url: str = ""
    metrics_url: str = ""
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    targets: dict[int, int] = field(default_factory=dict)
    extra_env: dict[str, str] = field(default_factory=dict)
    """Settings every process of this pipeline gets (besides the common ones)."""
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30), repr=False)
    """One client for every read: a new one per call would load the CA bundle each time."""

    def env(self) -> dict[str, str]:
        return child_env(self.settings, {"IOC_LOG_LEVEL": "INFO", "IOC_GAUGE_INTERVAL_S": "1",
                                         "PYTHONUNBUFFERED": "1", **self.extra_env})

    def spawn(self, name: str, *args: str, env: dict[str, str] | None = None
              ) -> subprocess.Popen[bytes]:
        """``ioc <args>`` with this pipeline's environment (and ``env``), logging to name.log."""
        proc = spawn_ioc(*args, log_file=self.root / f"{name}.log", env={**self.env(), **(env or {})})
        self.procs[name] = proc
        return proc

    def start_worker(self) -> None:
        since = datetime.now(UTC)
        proc = self.spawn("worker", "worker")
        wait_until(lambda: seen_since(self.settings.database_url, since, self.settings.worker_id),
                   timeout_s=90, what="worker", alive=lambda: proc.poll() is None, interval_s=0.25)

    def follow_new_broker(self, broker: EmbeddedBroker) -> None:
        """After the broker came back empty on its port: its topics, its cluster id, and a
        fresh worker (which re-sends the intake journal, when on, before it consumes)."""
        ensure_topics(self.settings)
        self.cluster_id = broker.cluster_id
        self.start_worker()

    def stop(self, name: str, sig: int = signal.SIGTERM) -> None:
        stop(self.procs.pop(name), sig=sig, timeout_s=30)

    def start_api(self, env: dict[str, str] | None = None) -> None:
        """The API on a free port; ``env`` adds settings for this process only."""
        port = free_port()
        proc = self.spawn("api", "api", "--port", str(port), env=env)
        self.api_url = f"http://127.0.0.1:{port}"
        wait_until(lambda: http_ok(f"{self.api_url}/readyz"), timeout_s=60, what="API",
                   alive=lambda: proc.poll() is None, interval_s=0.2)

    def publish(self, records: list[bytes]) -> None:
        """Publish raw records keyed as a connector would; remember what must be consumed."""
        publisher = EventPublisher(self.settings, client_id=f"test-{self.name}")
        try:
            acks = publisher.publish_raw([(_key(raw), raw) for raw in records])
        finally:
            publisher.close()
        for partition, offset in acks:
            self.targets[partition] = max(self.targets.get(partition, 0), offset + 1)

    def consumed(self) -> dict[int, int]:
        with psycopg.connect(self.settings.database_url) as conn:
            return committed_positions(conn, self.cluster_id, self.settings.worker_id,
                                       self.settings.events_topic)

    def wait_processed(self, timeout_s: float = 180) -> None:
        def done() -> bool:
            got = self.consumed()
            return all(got.get(p, 0) >= o for p, o in self.targets.items())

        wait_until(done, timeout_s=timeout_s, what="processing of the published events",
                   interval_s=0.25)

    def dead_letters(self) -> list[tuple[dict[str, str], bytes]]:
        """Every record on the dead-letter topic so far: its headers and original bytes."""
        consumer = KafkaConsumer(self.settings.deadletter_topic,
                                 bootstrap_servers=self.settings.kafka_bootstrap,
                                 auto_offset_reset="earliest", consumer_timeout_ms=3000)
        try:
            return [({k: v.decode() for k, v in r.headers}, r.value) for r in consumer]
        finally:
            consumer.close()

    def get(self, path: str, token_role: str = "operator", **params: Any) -> Any:
        response = self.http.get(f"{self.api_url}{path}", params=params,
                                 headers={"Authorization": f"Bearer {self.tokens[token_role]}"})
        response.raise_for_status()
        return response.json()


def _key(raw: bytes) -> bytes | None:
    """The key connectors give an event (the entity's id), None for what is no event."""
    try:
        event = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return event_key(event) if isinstance(event, dict) else None


def make_pipeline(services: Services, name: str, *, api: bool = True,
                  layout: RequestedLayout = "postgres", env: dict[str, str] | None = None) -> Pipeline:
    root = services.root / name
    root.mkdir(parents=True, exist_ok=True)
    settings = Settings(
        kafka_bootstrap=services.bootstrap,
        database_url=services.create_database(name),
        topic_prefix=name,
        data_dir=root,
        worker_id=f"kpi-{name}",
        worker_metrics_port=free_port(),
        storage_layout=layout,
    )
    tokens = prepare(settings, root / "credentials.json")
    pipeline = Pipeline(name, settings, services.broker.cluster_id, tokens, root,
                        metrics_url=f"http://127.0.0.1:{settings.worker_metrics_port}/metrics",
                        extra_env=dict(env or {}))
    pipeline.start_worker()
    if api:
        pipeline.start_api()
    return pipeline


@contextmanager
def running_pipeline(services: Services, name: str, layout: RequestedLayout = "postgres",
                     env: dict[str, str] | None = None) -> Iterator[Pipeline]:
    pipe = make_pipeline(services, name, layout=layout, env=env)
    try:
        yield pipe
    finally:
        for proc_name in list(pipe.procs):
            pipe.stop(proc_name)


@contextmanager
def layout_pipeline(services: Services, prefix: str, layout: RequestedLayout) -> Iterator[Pipeline]:
    """:func:`running_pipeline` named ``<prefix>_<layout>`` on that storage layout; on
    TimescaleDB, skipped (saying why) when the server has no TimescaleDB."""
    if layout == "timescaledb":
        skip_without_timescaledb(services)
    with running_pipeline(services, f"{prefix}_{layout}", layout=layout) as pipe:
        yield pipe


@contextmanager
def own_broker_pipeline(services: Services, name: str, env: dict[str, str] | None = None
                        ) -> Iterator[tuple[Pipeline, EmbeddedBroker]]:
    """A pipeline (worker and API) on a broker of its own, which the test may kill or stop
    and start again (then :meth:`Pipeline.follow_new_broker`)."""
    with own_broker(services, name) as broker, \
            running_pipeline(replace(services, broker=broker), name, env=env) as pipe:
        yield pipe, broker


@pytest.fixture(scope="module")
def pipeline(services: Services, request: pytest.FixtureRequest) -> Iterator[Pipeline]:
    with running_pipeline(services, request.module.__name__.rsplit(".", 1)[-1]
                          .replace("test_", "p_")) as pipe:
        yield pipe
