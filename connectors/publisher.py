"""A kafka-python publisher of CloudEvents: acks from all replicas, retries, entity keys."""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import psycopg
from kafka import KafkaProducer
from kafka.errors import KafkaError

from connectors.metrics import CONNECTOR_EVENTS
from ioc.deadletters import DeadLetter, of_connector
from ioc.events import dedup_key
from ioc.intake import received_at_header
from ioc.settings import Settings
from ioc.storage import deadletters, journal
from ioc.topics import producer_config

T = TypeVar("T")

_KEY_FIELDS = ("dossier_id", "feedback_id", "payment_id", "station_id")


def event_key(event: dict[str, Any]) -> bytes | None:
    """The partitioning key of docs/contract/events.md: dossier_id, feedback_id, payment_id
    or station_id."""
    data = event.get("data")
    if isinstance(data, dict):
        for name in _KEY_FIELDS:
            value = data.get(name)
            if isinstance(value, str):
                return value.encode()
    return None


class NotSafe(KafkaError):
    """The intake journal could not keep the events (the database is down): nothing was
    sent, nothing may be acknowledged. A ``KafkaError``, so connectors handle it as they handle
    a broker that does not ack: retry later, acknowledge nothing meanwhile."""


def _digest(value: bytes) -> bytes:
    """The deduplication key of a raw event, or of its bytes when it has no (source, id)
    (the worker will reject it; its journal entry then leaves at the lateness limit)."""
    try:
        event = json.loads(value)
        source, event_id = event["source"], event["id"]
        if isinstance(source, str) and isinstance(event_id, str):
            return dedup_key(source, event_id)
    except (ValueError, TypeError, KeyError):
        pass
    return dedup_key("", value.hex())


class Journal:
    """The intake journal, for a synchronous publisher: one autocommit connection, opened
    again after a failure."""

    def __init__(self, database_url: str) -> None:
        self._url = database_url
        self._conn: psycopg.Connection | None = None

    def _run(self, work: Callable[[psycopg.Connection], T]) -> T:
        for attempt in (1, 2):
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = psycopg.connect(self._url, autocommit=True, connect_timeout=5)
                return work(self._conn)
            except psycopg.OperationalError as exc:
                if self._conn is not None:
                    self._conn.close()
                self._conn = None
                if attempt == 2:
                    raise NotSafe(f"the intake journal is unavailable: {exc}") from None
        raise AssertionError("not reached")

    def append(self, entries: Sequence[journal.Entry]) -> list[int]:
        return self._run(lambda conn: journal.append_sync(conn, entries))

    def dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        stored = self._run(lambda conn: deadletters.store_sync(conn, letters, datetime.now(UTC)))
        deadletters.count(stored)

    def discard(self, seqs: Sequence[int]) -> None:
        with contextlib.suppress(NotSafe):  # kept: the relay may count them later; harmless,
            self._run(lambda conn: journal.discard_sync(conn, seqs))  # the caller retries anyway

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


class EventPublisher:
    def __init__(self, settings: Settings, *, client_id: str = "ioc-connector",
                 linger_ms: int = 5) -> None:
        self._journal = Journal(settings.database_url) if settings.intake_journal else None
        self._topic = settings.events_topic
        self._deadletter_topic = settings.deadletter_topic
        # linger 0 where each send is awaited alone (webhooks)
        self._producer = KafkaProducer(**producer_config(settings, client_id, linger_ms=linger_ms))

    def publish(self, events: Iterable[dict[str, Any]], *, timeout_s: float = 30.0) -> int:
        """Send the events and wait for the broker's acks; returns how many were sent."""
        return len(self.publish_raw(
            ((event_key(ev), json.dumps(ev, ensure_ascii=False, separators=(",", ":")).encode())
             for ev in events), timeout_s=timeout_s))

    def publish_raw(self, records: Iterable[tuple[bytes | None, bytes]], *,
                    timeout_s: float = 30.0, received_at: datetime | None = None) -> list[tuple[int, int]]:
        """Send (key, value) records as they are, stamped with when they entered the system
        (default: now); with the intake journal on, keep them there first. Wait for the acks;
        returns (partition, offset) of each."""
        pending = list(records)
        entered = received_at or datetime.now(UTC)
        seqs = self._journal.append([journal.Entry(_digest(value), self._topic, key, value, entered)
                                     for key, value in pending]) if self._journal and pending else []
        headers = [received_at_header(entered)]
        try:
            futures = [self._producer.send(self._topic, key=key, value=value, headers=headers)
                       for key, value in pending]
            acks = [future.get(timeout=timeout_s) for future in futures]
        except KafkaError:
            if self._journal is not None:
                self._journal.discard(seqs)
            raise
        return [(ack.partition, ack.offset) for ack in acks]

    def dead_letter(self, items: Iterable[tuple[bytes, str, str]], *, connector: str,
                    timeout_s: float = 30.0) -> int:
        """Keep (original bytes, reason code, reason) as dead letters: with the intake journal
        on (the embedded default, whose broker keeps the topic in memory only), written to
        the dead-letter store first, so none is lost if the broker restarts before the worker
        copies the topic; then sent to the dead-letter topic, as the stream worker does for
        invalid events (the copy finds them already stored). Waits for the acks."""
        pending = list(items)
        entered = datetime.now(UTC)
        if self._journal is not None and pending:
            self._journal.dead_letters([of_connector(raw, code, reason, connector, entered)
                                        for raw, code, reason in pending])
        futures = [self._producer.send(
            self._deadletter_topic, value=raw,
            headers=[("ioc-reason-code", code.encode()), ("ioc-reason", reason.encode()),
                     ("ioc-connector", connector.encode()), received_at_header(entered)])
            for raw, code, reason in pending]
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
        if self._journal is not None:
            self._journal.close()
