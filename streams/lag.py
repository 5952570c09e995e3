"""Consumer lag per partition, and the known sources of the event metrics.

The worker keeps its consumed offsets in PostgreSQL with the KPIs (not in Kafka's group
coordinator), so Kafka's own lag tools see nothing: the lag is the events topic's end offset
minus the stored next offset, per partition. Every worker reports every partition, so a
partition whose worker died still shows its lag growing (dashboards take the max).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from typing import Protocol, TypeVar

import faust
from kafka import KafkaConsumer, TopicPartition
from psycopg import AsyncConnection

from ioc.settings import Settings
from ioc.source_labels import known_sources
from ioc.storage import keys, offsets
from streams import metrics
from streams.batch import BatchProcessor

log = logging.getLogger(__name__)
T = TypeVar("T")


class Runner(Protocol):
    """Runs work on the worker's database connection (streams.app.Database)."""

    async def run(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T: ...


SOURCES_REFRESH_S = 60.0
"""How soon a source bound to a new integrator key gets its own label."""


def partition_lag(ends: Mapping[int, int], stored: Mapping[int, int]) -> dict[int, int]:
    """Records not yet counted per partition (never negative: a broker may report an end
    offset below the last record, as the embedded one does for multi-record batches: the
    batch's first offset + 1, so there the lag reads low by up to one batch)."""
    return {p: max(0, end - stored.get(p, 0)) for p, end in ends.items()}


class EndOffsets:
    """The end offsets of one topic, from a consumer outside any group (blocking: call it in
    a thread)."""

    def __init__(self, bootstrap: str, topic: str, partitions: int) -> None:
        self._bootstrap = bootstrap.split(",")
        self._wanted = [TopicPartition(topic, p) for p in range(partitions)]
        self._consumer: KafkaConsumer | None = None

    def read(self) -> dict[int, int]:
        if self._consumer is None:
            self._consumer = KafkaConsumer(bootstrap_servers=self._bootstrap,
                                           client_id="ioc-worker-lag", enable_auto_commit=False)
        try:
            ends = self._consumer.end_offsets(self._wanted)
        except Exception:
            self._consumer.close()
            self._consumer = None
            raise
        return {tp.partition: int(offset) for tp, offset in ends.items()}


def install(app: faust.App, settings: Settings, cluster_id: str, database: Runner,
            processor: BatchProcessor) -> None:
    """Timers: the lag gauge every IOC_WORKER_LAG_INTERVAL_S, the known sources every minute."""
    ends = EndOffsets(settings.kafka_bootstrap, settings.events_topic, settings.event_partitions)
    topic = settings.events_topic

    @app.timer(interval=settings.worker_lag_interval_s)
    async def consumer_lag() -> None:
        try:
            end = await asyncio.to_thread(ends.read)
        except Exception as exc:  # the broker is away: the gauge keeps its last value
            log.warning("end offsets unavailable", extra={"error": repr(exc)})
            return
        stored = await database.run(partial(offsets.stored_positions, cluster_id=cluster_id,
                                            consumer=settings.worker_id, topic=topic))
        for partition, lag in partition_lag(end, stored).items():
            metrics.CONSUMER_LAG.labels(topic, str(partition)).set(lag)
        metrics.LAG_CHECKED.set(time.time())

    async def refresh_sources() -> None:
        bound = await database.run(keys.bound_sources_async)
        processor.known_sources = known_sources(settings, bound)

    app.task(refresh_sources)  # at start, then every minute
    app.timer(interval=SOURCES_REFRESH_S)(refresh_sources)
