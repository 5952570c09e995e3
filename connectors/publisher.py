"""A kafka-python publisher of CloudEvents: acks from all replicas, retries, entity keys."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from kafka import KafkaProducer

from connectors.metrics import CONNECTOR_EVENTS
from ioc.settings import Settings

_KEY_FIELDS = ("dossier_id", "payment_id", "station_id")


def event_key(event: dict[str, Any]) -> bytes | None:
    """The partitioning key of events.md: dossier_id, payment_id or station_id."""
    data = event.get("data")
    if isinstance(data, dict):
        for name in _KEY_FIELDS:
            value = data.get(name)
            if isinstance(value, str):
                return value.encode()
    return None


class EventPublisher:
    def __init__(self, settings: Settings, *, client_id: str = "ioc-connector",
                 linger_ms: int = 5) -> None:
        self._topic = settings.events_topic
        self._deadletter_topic = settings.deadletter_topic
        self._producer = KafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap.split(","),
            client_id=client_id,
            acks="all",
            retries=10,
            linger_ms=linger_ms,  # 0 where each send is awaited alone (webhooks)
            max_in_flight_requests_per_connection=1,  # retries keep per-key order
        )

    def publish(self, events: Iterable[dict[str, Any]], *, timeout_s: float = 30.0) -> int:
        """Send the events and wait for the broker's acks; returns how many were sent."""
        return len(self.publish_raw(
            ((event_key(ev), json.dumps(ev, ensure_ascii=False, separators=(",", ":")).encode())
             for ev in events), timeout_s=timeout_s))

    def publish_raw(self, records: Iterable[tuple[bytes | None, bytes]], *,
                    timeout_s: float = 30.0) -> list[tuple[int, int]]:
        """Send (key, value) records as they are; wait for the acks; returns (partition, offset)
        of each."""
        futures = [self._producer.send(self._topic, key=key, value=value) for key, value in records]
        acks = [future.get(timeout=timeout_s) for future in futures]
        return [(ack.partition, ack.offset) for ack in acks]

    def dead_letter(self, items: Iterable[tuple[bytes, str, str]], *, connector: str,
                    timeout_s: float = 30.0) -> int:
        """Send (original bytes, reason code, reason) to the dead-letter topic, as the stream
        worker does for invalid events; wait for the acks."""
        futures = [self._producer.send(
            self._deadletter_topic, value=raw,
            headers=[("ioc-reason-code", code.encode()), ("ioc-reason", reason.encode()),
                     ("ioc-connector", connector.encode())])
            for raw, code, reason in items]
        for future in futures:
            future.get(timeout=timeout_s)
        return len(futures)

    def send_mapped(self, events: Sequence[dict[str, Any]], unmappable: Sequence[tuple[bytes, str, str]],
                    *, connector: str) -> None:
        """What a connector made of its input: the input it could not map to the dead-letter
        topic (original bytes, reason code, reason), the events to the events topic, both
        acked by the broker and counted in ``ioc_connector_events_total``."""
        if unmappable:
            self.dead_letter(unmappable, connector=connector)
        if events:
            self.publish(events)
        CONNECTOR_EVENTS.labels(connector, "accepted", "").inc(len(events))
        for code, n in Counter(code for _, code, _ in unmappable).items():
            CONNECTOR_EVENTS.labels(connector, "rejected", code).inc(n)

    def close(self) -> None:
        self._producer.flush()
        self._producer.close()
