"""The deduplication ledger: which (source, id) digests have been accepted already."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from psycopg import AsyncConnection

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
