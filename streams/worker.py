"""Entry point of a stream worker process (``ioc worker``)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import faust
from kafka.admin import KafkaAdminClient
from prometheus_client import start_http_server

from ioc.clock import SystemClock
from ioc.geography import geography_of
from ioc.settings import Settings
from ioc.storage.lifecycle import maintain_for
from streams.app import create_app
from streams.incarnation import leave_on_new_broker, wait_for_go
from streams.relay import relay_journal

log = logging.getLogger(__name__)


def broker_cluster_id(bootstrap: str) -> str:
    """The broker's cluster id: stored offsets belong to one broker incarnation."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","), client_id="ioc-worker-probe")
    try:
        return str(admin.describe_cluster()["cluster_id"])
    finally:
        admin.close()


def run_worker(settings: Settings) -> None:
    wait_for_go(settings.worker_standby_file)
    cluster_id = broker_cluster_id(settings.kafka_bootstrap)
    maintain_for(settings, datetime.now(UTC))  # partitions ahead, or TimescaleDB policies
    geography = geography_of(settings)
    clock = SystemClock()
    relay_journal(settings, cluster_id, clock)  # a new broker incarnation gets the journal again
    app = create_app(settings, geography, clock, cluster_id)
    leave_on_new_broker(app, settings, cluster_id, broker_cluster_id)
    if settings.worker_metrics_port:
        start_http_server(settings.worker_metrics_port, addr=settings.worker_metrics_host)
    log.info("worker starting", extra={"cluster_id": cluster_id, "worker": settings.worker_id})
    level = settings.log_level.lower()
    level = {"warning": "warn", "critical": "crit"}.get(level, level)
    worker = faust.Worker(app, loglevel=level, quiet=True)
    worker.execute_from_commandline()
