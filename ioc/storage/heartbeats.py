"""Stream workers' heartbeats: each worker stamps its row every few seconds.

``ioc up`` and the tests wait for a fresh stamp to know a worker runs; ``/readyz`` reports
how old each stamp is.
"""

from __future__ import annotations

from datetime import datetime

import psycopg
from psycopg import AsyncConnection


async def beat(conn: AsyncConnection, worker: str) -> None:
    """Stamp ``worker``'s row with the database's now()."""
    await conn.execute(
        "INSERT INTO worker_heartbeats (worker, seen_at) VALUES (%s, now())"
        " ON CONFLICT (worker) DO UPDATE SET seen_at = now()", (worker,))


async def ages(conn: AsyncConnection) -> list[tuple[str, float]]:
    """Every worker with the seconds since its last heartbeat."""
    cur = await conn.execute(
        "SELECT worker, extract(epoch FROM now() - seen_at)::float FROM worker_heartbeats")
    return [(str(worker), float(age)) for worker, age in await cur.fetchall()]


def last_seen(conn: psycopg.Connection, worker: str | None = None) -> datetime | None:
    """The latest heartbeat of ``worker`` (of any worker when None); None if there is none."""
    if worker is None:
        row = conn.execute("SELECT max(seen_at) FROM worker_heartbeats").fetchone()
    else:
        row = conn.execute("SELECT seen_at FROM worker_heartbeats WHERE worker = %s",
                           (worker,)).fetchone()
    return row[0] if row and row[0] is not None else None


def seen_since(database_url: str, since: datetime, worker: str | None = None) -> bool:
    """A heartbeat (of ``worker``, or of any) at or after ``since``; False while the
    database cannot be reached."""
    try:
        with psycopg.connect(database_url, connect_timeout=2) as conn:
            seen = last_seen(conn, worker)
    except psycopg.Error:
        return False
    return seen is not None and seen >= since
