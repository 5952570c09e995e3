"""Kafka topics, created explicitly with their final partition counts (no auto-creation)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

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


def ensure_topics(settings: Settings, replication: int = 1) -> list[str]:
    """Create the topics that do not exist yet; returns those created."""
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap.split(","),
                             client_id="ioc-admin")
    try:
        existing = set(admin.list_topics())
        missing = [t for t in topic_specs(settings) if t.name not in existing]
        created = []
        for spec in missing:
            try:
                admin.create_topics([NewTopic(spec.name, spec.partitions, replication)])
                created.append(spec.name)
            except TopicAlreadyExistsError:
                pass
        if created:
            log.info("topics created", extra={"topics": created})
        return created
    finally:
        admin.close()
