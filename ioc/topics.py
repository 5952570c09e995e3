"""Kafka topics, created explicitly with their final partition counts (no auto-creation)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from ioc.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    purpose: str


def topic_specs(settings: Settings) -> list[TopicSpec]:
    return [
        TopicSpec(settings.events_topic, settings.event_partitions,
                  "raw CloudEvents, keyed by dossier_id, payment_id or station_id"),
        TopicSpec(settings.deadletter_topic, settings.event_partitions,
                  "rejected records: original bytes, reason in headers"),
        TopicSpec(settings.changes_topic, settings.change_partitions,
                  "KPI changes (absolute values) and alert changes, for the wall and the alert agent"),
    ]


PRODUCER_ACKS = "all"
"""Every producer waits for all in-sync replicas (with ``min.insync.replicas`` of the
topics, a write acknowledged by a three-broker cluster survives the loss of one broker)."""


def producer_config(settings: Settings, client_id: str, *, linger_ms: int = 5) -> dict[str, Any]:
    """kafka-python producer settings shared by every synchronous producer (connectors, the
    journal relay): acks from all in-sync replicas, retries that keep per-key order. Not
    idempotent: the embedded broker refuses idempotent producers, and a record written
    twice by a retry is a duplicate the worker ignores."""
    return {"bootstrap_servers": settings.kafka_bootstrap.split(","), "client_id": client_id,
            "acks": PRODUCER_ACKS, "retries": 10, "linger_ms": linger_ms,
            "max_in_flight_requests_per_connection": 1,
            # kafka-python 3 makes producers idempotent by default; one never recovers from
            # a new broker incarnation (UnknownProducerId until its records expire, and new
            # sends queue behind them: a payments webhook answered 503 for minutes).
            "enable_idempotence": False}


def new_topics(settings: Settings) -> list[NewTopic]:
    """The topics as created: partitions, replication factor and min.insync.replicas from
    the settings (1/1 on the embedded broker; 3/2 on a three-broker cluster)."""
    return [NewTopic(spec.name, spec.partitions, settings.topic_replication,
                     topic_configs={"min.insync.replicas": str(settings.topic_min_insync_replicas)})
            for spec in topic_specs(settings)]


def ensure_topics(settings: Settings) -> list[str]:
    """Create the topics that do not exist yet; returns those created."""
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap.split(","),
                             client_id="ioc-admin")
    try:
        existing = set(admin.list_topics())
        missing = [t for t in new_topics(settings) if t.name not in existing]
        created = []
        for topic in missing:
            try:
                admin.create_topics([topic])
                created.append(topic.name)
            except TopicAlreadyExistsError:
                pass
        if created:
            log.info("topics created", extra={"topics": created})
        return created
    finally:
        admin.close()
