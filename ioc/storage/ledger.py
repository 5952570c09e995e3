"""The deduplication ledger: which (source, id) digests have been accepted already."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from psycopg import AsyncConnection, Connection

from ioc.storage.staging import Stage, copy_rows

STAGE = Stage("stage_ledger", (("key", "bytea"),))


async def claim_keys(conn: AsyncConnection, keys: Sequence[bytes], seen_at: datetime) -> set[bytes]:
    """Insert the keys; return those that were new. Must run inside the batch's transaction."""
    if not keys:
        return set()
    await copy_rows(conn, STAGE, ((key,) for key in sorted(set(keys))))
    cur = await conn.execute(
        "INSERT INTO event_ledger (key, seen_at) SELECT key, %s FROM stage_ledger ORDER BY key"
        " ON CONFLICT (key) DO NOTHING RETURNING key", (seen_at,))
    return {bytes(row[0]) for row in await cur.fetchall()}


async def prune(conn: AsyncConnection, older_than: datetime) -> int:
    """Forget keys seen before ``older_than`` (the deduplication horizon)."""
    cur = await conn.execute("DELETE FROM event_ledger WHERE seen_at < %s", (older_than,))
    return cur.rowcount


def keys_seen_since(conn: Connection, since: datetime) -> list[tuple[bytes, datetime]]:
    """The keys accepted at or after ``since``, with when (the soak waits on them)."""
    rows = conn.execute("SELECT key, seen_at FROM event_ledger WHERE seen_at >= %s", (since,)).fetchall()
    return [(bytes(key), at) for key, at in rows]


def bytes_per_key(conn: Connection) -> float:
    """The ledger's size on disk (table and indexes) per key it holds."""
    row = conn.execute("SELECT pg_total_relation_size('event_ledger')::float8 / greatest(count(*), 1)"
                       " FROM event_ledger").fetchone()
    return float(row[0]) if row else 0.0
