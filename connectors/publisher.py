"""A kafka-python publisher of CloudEvents: acks from all replicas, retries, entity keys."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from kafka import KafkaProducer

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
    def __init__(self, settings: Settings, *, client_id: str = "ioc-connector") -> None:
        self._topic = settings.events_topic
        self._producer = KafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap.split(","),
            client_id=client_id,
            acks="all",
            retries=10,
            linger_ms=5,
            max_in_flight_requests_per_connection=1,  # retries keep per-key order
        )

    def publish(self, events: Iterable[dict[str, Any]], *, timeout_s: float = 30.0) -> int:
        """Send the events and wait for the broker's acks; returns how many were sent."""
        futures = [
            self._producer.send(
                self._topic, key=event_key(ev),
                value=json.dumps(ev, ensure_ascii=False, separators=(",", ":")).encode())
            for ev in events
        ]
        for future in futures:
            future.get(timeout=timeout_s)
        return len(futures)

    def publish_raw(self, value: bytes, key: bytes | None = None, *, timeout_s: float = 30.0) -> None:
        """Send bytes as they are (replays of files, tests of bad input)."""
        self._producer.send(self._topic, key=key, value=value).get(timeout=timeout_s)

    def close(self) -> None:
        self._producer.flush()
        self._producer.close()
