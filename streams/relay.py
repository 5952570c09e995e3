"""Re-send the intake journal to a new broker incarnation.

The embedded broker keeps records in memory only. When it restarts it is empty, with a new
cluster id, and the worker restarts with it (its stored offsets belong to one incarnation).
At start the worker compares the broker's cluster id with the one the journal was last
re-sent to; if they differ, every entry still in the journal (acknowledged, not yet counted)
is published again, with its original bytes and entry time, before the KPI agent starts.
Entries already counted are recognised by deduplication; entries published twice by their
producer and by this relay likewise. A crash in the middle re-sends everything next time.
"""

from __future__ import annotations

import logging

import psycopg
from kafka import KafkaProducer

from ioc.clock import Clock
from ioc.intake import received_at_header
from ioc.settings import Settings
from ioc.storage import journal
from ioc.topics import producer_config

log = logging.getLogger(__name__)

CHUNK = 5000


def relay_journal(settings: Settings, cluster_id: str, clock: Clock) -> int:
    """Publish what the journal holds to this incarnation, once; returns how many."""
    sent = 0
    with psycopg.connect(settings.database_url, autocommit=True) as conn, conn.transaction():
        journal.lock_relay(conn)
        if journal.relayed_to(conn) == cluster_id:
            return 0
        producer = KafkaProducer(**producer_config(settings, "ioc-journal-relay"))
        try:
            after = 0
            while chunk := journal.pending(conn, after, CHUNK):
                futures = [producer.send(entry.topic, key=entry.key, value=entry.value,
                                         headers=[received_at_header(entry.received_at)])
                           for entry in chunk]
                for future in futures:
                    future.get(timeout=60)
                after = chunk[-1].seq
                sent += len(chunk)
        finally:
            producer.close()
        journal.mark_relayed(conn, cluster_id, clock.now())
    log.info("intake journal relayed", extra={"cluster_id": cluster_id, "events": sent})
    return sent
