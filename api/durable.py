"""Publishing what the API acknowledges so that no single part's death loses it.

With the intake journal on (the embedded default), the records are first kept in
PostgreSQL, then sent to the broker and acknowledged there; only then may the caller hear
202. A journal that cannot be written, or a broker that does not ack, is a part that is
down: nothing is acknowledged (503), and the journal entries of a failed send are dropped
again (if that fails too, the relay may still count them later: harmless, the caller retries
with the same ids and duplicates are ignored).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from api.producer import BrokerUnavailable, EventProducer
from ioc.intake import received_at_header
from ioc.storage import journal

log = logging.getLogger(__name__)


class NotSafe(RuntimeError):
    """A part needed to keep the promise is down; nothing was acknowledged."""


async def publish_durably(producer: EventProducer, pool: AsyncConnectionPool | None, topic: str,
                          records: Sequence[tuple[bytes, bytes | None, bytes]],
                          received_at: datetime) -> None:
    """Publish (digest, key, value) records; with a pool, journal them first."""
    if not records:
        return
    seqs: list[int] = []
    if pool is not None:
        entries = [journal.Entry(digest, topic, key, value, received_at)
                   for digest, key, value in records]
        try:
            async with pool.connection(timeout=5) as conn:
                seqs = await journal.append(conn, entries)
        except (psycopg.Error, PoolTimeout) as exc:
            raise NotSafe(f"the database is unavailable ({type(exc).__name__})") from None
    try:
        await producer.send_all([(key, value) for _, key, value in records], topic,
                                headers=[received_at_header(received_at)])
    except BrokerUnavailable as exc:
        if seqs and pool is not None:  # entries are journalled only with a pool
            try:
                async with pool.connection(timeout=5) as conn:
                    await journal.discard(conn, seqs)
            except (psycopg.Error, PoolTimeout):
                log.warning("journal entries of a failed send kept", extra={"entries": len(seqs)})
        raise NotSafe(str(exc)) from None
