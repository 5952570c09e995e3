"""The dead-letter topic copied into the dead-letter store, exactly once.

Connectors send the input they cannot map to ``<prefix>.events.deadletter``; on the
embedded default the broker keeps it in memory only. This agent copies each record into
the ``dead_letters`` table in one transaction with that topic's offsets
(``consumer_offsets``, as the KPI batches do): a redelivered record is skipped, a crash
before the commit repeats the whole batch. Records the stream worker put there itself are
skipped (its batch transaction stored them already: ioc.deadletters.of_topic_record).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import faust
from faust.streams import Stream
from psycopg import AsyncConnection

from ioc.clock import Clock
from ioc.deadletters import DeadLetter, header_map, of_topic_record
from ioc.settings import Settings
from ioc.storage import deadletters, offsets
from streams.lag import Runner


@dataclass(frozen=True, slots=True)
class TopicRecord:
    topic: str
    partition: int
    offset: int
    value: bytes
    headers: dict[str, bytes]


async def copy_batch(conn: AsyncConnection, records: Sequence[TopicRecord], cluster_id: str,
                     consumer: str, clock: Clock) -> list[DeadLetter]:
    """Store the batch's new dead letters and advance the topic's offsets, in one
    transaction; returns the dead letters stored."""
    async with conn.transaction():
        positions = await offsets.lock_positions(
            conn, cluster_id, consumer, {(r.topic, r.partition) for r in records})
        fresh = [r for r in records if r.offset >= positions.get((r.topic, r.partition), 0)]
        now = clock.now()
        letters = [letter for r in fresh
                   if (letter := of_topic_record(r.value, r.headers, r.topic, now)) is not None]
        stored = await deadletters.store(conn, letters, now)
        after: dict[tuple[str, int], int] = {}
        for r in fresh:
            after[(r.topic, r.partition)] = max(after.get((r.topic, r.partition), 0), r.offset + 1)
        await offsets.advance(conn, cluster_id, consumer, after)
    return stored


def install(app: faust.App, settings: Settings, cluster_id: str, database: Runner,
            clock: Clock) -> None:
    """The agent ``deadletters`` on the dead-letter topic (same consumer group as the KPI
    agent: each partition is copied by one worker)."""
    topic = app.topic(settings.deadletter_topic, key_serializer="raw", value_serializer="raw",
                      partitions=settings.event_partitions)

    @app.agent(topic, name="deadletters")
    async def copy_deadletters(stream: faust.StreamT[bytes]) -> None:
        assert isinstance(stream, Stream)
        async for batch in stream.take_events(500, within=settings.worker_batch_window_s):
            records = [TopicRecord(e.message.topic, e.message.partition, e.message.offset,
                                   e.message.value if isinstance(e.message.value, bytes)
                                   else bytes(e.value), header_map(e.message.headers))
                       for e in batch]
            stored = await database.run(partial(copy_batch, records=records, cluster_id=cluster_id,
                                                consumer=settings.worker_id, clock=clock))
            deadletters.count(stored)
