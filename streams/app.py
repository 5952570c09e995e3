"""The Faust application, built from settings (no global app object)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from functools import partial
from typing import Any, TypeVar

import faust
import psycopg
from faust.streams import Stream
from psycopg import AsyncConnection

from ioc.changes import change_key, gauge_messages, local_iso
from ioc.clock import Clock
from ioc.deadletters import retention
from ioc.events import rules_of
from ioc.geography import Geography
from ioc.intake import RawRecord, received_at_of
from ioc.settings import Settings
from ioc.source_labels import known_sources
from ioc.storage import deadletters, gauges, heartbeats, journal, ledger, station_state
from ioc.storage.lifecycle import maintain_for
from streams import alerting, lag, metrics
from streams import deadletters as deadletter_copy
from streams.batch import BatchConfig, BatchProcessor
from streams.kafka_transport import App
from streams.publishing import OutRecord, change_records

log = logging.getLogger(__name__)
T = TypeVar("T")

DEDUP_HORIZON = timedelta(days=8)
"""Ledger keys are kept a day longer than the 7-day deduplication promise."""


class FaustPublisher:
    """Publishes through the Faust app's producer and waits for the broker's acks."""

    def __init__(self, app: faust.App) -> None:
        self._app = app
        self._topics: dict[str, Any] = {}

    def _topic(self, name: str) -> Any:
        if name not in self._topics:
            self._topics[name] = self._app.topic(name, key_serializer="raw", value_serializer="raw")
        return self._topics[name]

    async def publish(self, records: Sequence[OutRecord]) -> None:
        futures = []
        for rec in records:
            fut = await self._topic(rec.topic).send(
                key=rec.key, value=rec.value, headers=list(rec.headers) or None)
            futures.append(fut)
        await asyncio.gather(*futures)


def kafka_broker_url(bootstrap: str) -> str:
    return ";".join(f"kafka://{host.strip()}" for host in bootstrap.split(",") if host.strip())


def create_app(settings: Settings, geography: Geography, clock: Clock, cluster_id: str) -> faust.App:
    app = App(
        settings.worker_id,
        fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
        broker=kafka_broker_url(settings.kafka_bootstrap),
        datadir=str(settings.data_dir / "faust"),
        store="memory://",
        web_enabled=False,
        web_host="127.0.0.1",
        topic_allow_declare=False,
        topic_disable_leader=True,
        broker_session_timeout=settings.broker_session_timeout_s,
        broker_heartbeat_interval=min(3.0, settings.broker_session_timeout_s / 3),
        consumer_auto_offset_reset="earliest",
        producer_max_batch_size=settings.faust_producer_max_batch_size,
        producer_acks=-1,  # all in-sync replicas, as every producer (ioc.topics.PRODUCER_ACKS)
        stream_buffer_maxsize=max(4096, settings.worker_batch_size * 2),
        broker_max_poll_records=max(500, settings.worker_batch_size),
    )
    events_topic = app.topic(
        settings.events_topic, key_serializer="raw", value_serializer="raw",
        partitions=settings.event_partitions,
    )
    rules = rules_of(settings, geography)
    publisher = FaustPublisher(app)
    processor = BatchProcessor(
        BatchConfig(
            cluster_id=cluster_id,
            consumer=settings.worker_id,
            deadletter_topic=settings.deadletter_topic,
            changes_topic=settings.changes_topic,
            utc_offset=geography.utc_offset,
        ),
        rules, clock, publisher, known_sources(settings, ()),
    )
    database = Database(settings.database_url)
    lag.install(app, settings, cluster_id, database, processor)
    alerting.install(app, settings, geography, clock, Database(settings.database_url), publisher)
    deadletter_copy.install(app, settings, cluster_id, Database(settings.database_url), clock)

    @app.agent(events_topic, name="kpi")
    async def kpi_agent(stream: faust.StreamT[bytes]) -> None:
        assert isinstance(stream, Stream)  # the concrete class has take_events
        async for batch in stream.take_events(
            settings.worker_batch_size, within=settings.worker_batch_window_s
        ):
            records = [
                RawRecord(e.message.topic, e.message.partition, e.message.offset,
                          e.message.value if isinstance(e.message.value, bytes) else bytes(e.value),
                          e.message.key, received_at_of(e.message.headers))
                for e in batch
            ]
            with metrics.BATCH_SECONDS.time():
                await database.run(partial(processor.process, records=records))
            metrics.BATCH_RECORDS.observe(len(records))

    @app.timer(interval=5.0)
    async def heartbeat() -> None:
        await database.run(partial(heartbeats.beat, worker=settings.worker_id))

    scopes = ["", *(d.code for d in geography.units)]
    last_sent: dict[str, int] = {}

    @app.timer(interval=settings.gauge_interval_s)
    async def publish_gauges() -> None:
        """Gauges move as time passes: sample them and send the ones that changed."""
        now = clock.now()
        values = await database.run(
            partial(gauges.gauges_now, t=now, silence=settings.station_silence))
        changed = [m for m in gauge_messages(values, scopes, now, geography.utc_offset)
                   if last_sent.get(change_key(m)) != m["value"]]
        if changed:
            await publisher.publish(change_records(  # stamped when sent, after the query
                settings.changes_topic, changed, local_iso(clock.now(), geography.utc_offset)))
            last_sent.update((change_key(m), m["value"]) for m in changed)

    @app.timer(interval=settings.journal_prune_interval_s)
    async def prune_journal() -> None:
        """Forget journal entries once counted (their digest is in the ledger)."""
        horizon = clock.now() - timedelta(seconds=settings.lateness_limit_s) - timedelta(days=1)
        removed = await database.run(partial(journal.prune, received_before=horizon))
        metrics.JOURNAL_PRUNED.inc(removed)

    @app.timer(interval=3600.0)
    async def housekeeping() -> None:
        """Forget old dedup keys, reading times and dead letters; keep partitions (or
        policies) in line."""
        horizon = clock.now() - DEDUP_HORIZON
        kept_since = clock.now() - retention(settings.lateness_limit_s)
        async def prune(conn: AsyncConnection) -> None:
            removed = await ledger.prune(conn, horizon)
            readings = await station_state.prune(conn, horizon - timedelta(days=1))
            letters = await deadletters.prune(conn, kept_since)
            log.info("pruned", extra={"ledger_keys": removed, "station_readings": readings,
                                      "dead_letters": letters})
        await database.run(prune)
        await asyncio.to_thread(maintain_for, settings, clock.now())

    return app


class Database:
    """One autocommit connection for the worker; after a failure it is reopened and the
    work retried (the work keeps its own transaction, so a retry starts clean)."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._conn: AsyncConnection | None = None
        self._lock = asyncio.Lock()

    async def run(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        delay = 0.5
        while True:
            async with self._lock:
                try:
                    if self._conn is None or self._conn.closed:
                        self._conn = await AsyncConnection.connect(self._url, autocommit=True)
                    result = await work(self._conn)
                    metrics.DATABASE_UP.set(1)
                    return result
                except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                    log.warning("database unavailable, retrying", extra={"error": str(exc)})
                    metrics.DB_RETRIES.inc()
                    metrics.DATABASE_UP.set(0)
                    if self._conn is not None:
                        await self._conn.close()
                    self._conn = None
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
