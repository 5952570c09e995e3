"""One batch of raw records, processed exactly once against PostgreSQL.

In one transaction: lock the stored offsets of the batch's partitions and skip records
already processed; claim the (source, id) of the valid events in the deduplication ledger;
add the KPI cells of the new events at 1m, 1h and 1d; store the rejected events in the
dead-letter store; advance the offsets. The dead-letter store therefore gets each rejected
record exactly once (a redelivered record is skipped with the rest). Rejected events also go
to the dead-letter topic, acknowledged by the broker, before that transaction commits: a
crash in between can repeat a record there, never lose one (the store does not copy these
back: ioc.deadletters). KPI changes are published after the commit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from psycopg import AsyncConnection

from ioc.changes import (
    change_message_text,
    index_messages,
    local_iso,
    message_text,
    sensor_change_messages,
)
from ioc.clock import Clock
from ioc.deadletters import DeadLetter, of_rejected_record
from ioc.events import Event, Rejection, Rules
from ioc.intake import RawRecord, next_offsets, triage
from ioc.kpis.buckets import Bucket
from ioc.kpis.counters import bucket_cells
from ioc.kpis.gauges import dossier_facts, feedback_facts
from ioc.kpis.sensors import rollup_sensors, sensor_cells
from ioc.kpis.service_index import INDICATOR_KPIS
from ioc.kpis.stations import reading_times
from ioc.source_labels import source_label
from ioc.storage import deadletters, dossier_state, kpi_reads, ledger, offsets, station_state
from ioc.storage.kpi_cells import StoredCell, add_cells, bump_index_versions
from ioc.storage.kpi_reads import CellRow
from ioc.storage.sensor_cells import StoredSensorCell, add_sensor_cells
from streams import metrics
from streams.publishing import OutRecord, Publisher, change_text_records

INDICATORS = frozenset(INDICATOR_KPIS)


@dataclass(frozen=True, slots=True)
class BatchConfig:
    cluster_id: str
    consumer: str
    deadletter_topic: str
    changes_topic: str
    utc_offset: timedelta


@dataclass(slots=True)
class BatchOutcome:
    redelivered: int = 0
    accepted: list[Event] = field(default_factory=list)
    duplicates: list[Event] = field(default_factory=list)
    rejected: list[tuple[RawRecord, Rejection]] = field(default_factory=list)
    stored: list[StoredCell] = field(default_factory=list)
    """The new totals of the cells without breakdown (the ones published)."""
    stored_sensors: list[StoredSensorCell] = field(default_factory=list)
    index_cells: list[CellRow] = field(default_factory=list)
    """The service index's indicator cells of every (area, day) the batch changed one of."""
    index_versions: dict[tuple[str, datetime], int] = field(default_factory=dict)
    """Their index versions, raised by this batch."""
    dead_letters: list[DeadLetter] = field(default_factory=list)
    """The rejected events newly written to the dead-letter store."""


def deadletter_record(topic: str, record: RawRecord, rejection: Rejection) -> OutRecord:
    """The original bytes, with the reason and the origin in headers."""
    return OutRecord(
        topic=topic,
        key=record.key,
        value=record.value,
        headers=(
            ("ioc-reason-code", rejection.code.value.encode()),
            ("ioc-reason", rejection.reason.encode()),
            ("ioc-original-topic", record.topic.encode()),
            ("ioc-original-partition", str(record.partition).encode()),
            ("ioc-original-offset", str(record.offset).encode()),
        ),
    )


class BatchProcessor:
    def __init__(self, config: BatchConfig, rules: Rules, clock: Clock, publisher: Publisher,
                 known_sources: frozenset[str] = frozenset()):
        self._config = config
        self.known_sources = known_sources
        """Sources counted under their own label in ioc_events_total (the rest as "other");
        the worker refreshes them as keys change."""
        self._rules = rules
        self._clock = clock
        self._publisher = publisher

    async def process(self, conn: AsyncConnection, records: Sequence[RawRecord]) -> BatchOutcome:
        cfg = self._config
        outcome = BatchOutcome()
        async with conn.transaction():
            positions = await offsets.lock_positions(
                conn, cfg.cluster_id, cfg.consumer, {(r.topic, r.partition) for r in records})
            fresh = [r for r in records if r.offset >= positions.get((r.topic, r.partition), 0)]
            outcome.redelivered = len(records) - len(fresh)
            now = self._clock.now()
            sorted_out = triage(fresh, self._rules, now)
            outcome.rejected = sorted_out.rejected
            if outcome.rejected:
                await self._publisher.publish([
                    deadletter_record(cfg.deadletter_topic, rec, rej)
                    for rec, rej in outcome.rejected])
            new_keys = await ledger.claim_keys(
                conn, [e.dedup_key for e in sorted_out.accepted], now)
            outcome.duplicates = sorted_out.duplicates
            for event in sorted_out.accepted:
                (outcome.accepted if event.dedup_key in new_keys else outcome.duplicates).append(event)
            minute_sensors = sensor_cells(outcome.accepted, cfg.utc_offset)
            coarse = (Bucket.HOUR, Bucket.DAY)
            outcome.stored = await add_cells(conn, bucket_cells(outcome.accepted, cfg.utc_offset))
            outcome.index_versions = await bump_index_versions(conn, (
                (c.area, c.bucket) for c in outcome.stored
                if c.bucket_size is Bucket.DAY and c.kpi in INDICATORS))
            outcome.index_cells = await kpi_reads.indicator_cells(conn, outcome.index_versions)
            outcome.stored_sensors = await add_sensor_cells(conn, {
                Bucket.MINUTE: minute_sensors,
                **{size: rollup_sensors(minute_sensors, size, cfg.utc_offset) for size in coarse}})
            await dossier_state.merge_facts(conn, dossier_facts(outcome.accepted))
            await dossier_state.merge_facts(conn, feedback_facts(outcome.accepted), "feedback")
            await station_state.add_readings(conn, reading_times(outcome.accepted))
            outcome.dead_letters = await deadletters.store(
                conn, [of_rejected_record(rec, rej, now) for rec, rej in outcome.rejected], now)
            await offsets.advance(conn, cfg.cluster_id, cfg.consumer, next_offsets(fresh))
        self._count(outcome, self.known_sources)
        deadletters.count(outcome.dead_letters)
        await self._publish_changes(outcome)
        return outcome

    async def _publish_changes(self, outcome: BatchOutcome) -> None:
        """Province and area values (no breakdowns) for the wall, the service index of each
        (area, day) that changed, and each station's sensor aggregates (for station alert
        rules; the feed sends them only to clients that ask for stations)."""
        offset = self._config.utc_offset
        changed_at = local_iso(self._clock.now(), offset)
        texts = [change_message_text(c, offset, changed_at) for c in outcome.stored]
        texts.extend(message_text(m, changed_at) for m in index_messages(
            outcome.index_cells, str(Bucket.DAY), offset, outcome.index_versions))
        for cell in outcome.stored_sensors:
            texts.extend(message_text(m, changed_at) for m in sensor_change_messages(cell, offset))
        if texts:
            await self._publisher.publish(change_text_records(self._config.changes_topic, texts))

    @staticmethod
    def _count(outcome: BatchOutcome, known: frozenset[str]) -> None:
        """Count outcomes per batch (one metric update per label set, not per event); sources
        not known are counted as "other", so the label values stay bounded."""
        metrics.REDELIVERED.inc(outcome.redelivered)
        counts: Counter[tuple[str, str, str]] = Counter()
        counts.update((source_label(e.source, known), "accepted", "") for e in outcome.accepted)
        counts.update((source_label(e.source, known), "duplicate", "") for e in outcome.duplicates)
        counts.update((source_label(r.source, known), "rejected", r.code.value)
                      for _, r in outcome.rejected)
        for labels, n in counts.items():
            metrics.EVENTS.labels(*labels).inc(n)
