"""The dead-letter store (migration 013): write, list, mark replayed, forget old ones.

Writes return what they stored, so the caller counts it in ``ioc_deadletters_stored_total``
once its transaction committed (:func:`count`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from prometheus_client import Counter
from psycopg import AsyncConnection, Connection

from ioc.deadletters import DeadLetter, Listed, listed, origin_kind

STORED = Counter("ioc_deadletters_stored_total",
                 "Dead letters written to the dead-letter store, by reason code and origin "
                 "(http, replay, kafka: the stream worker, connector); a dead letter that "
                 "was already waiting is not counted again",
                 ["reason", "origin"])

_COLUMNS = "id, event_id, reason, detail, source, received_at, body, replayed_at"


_INSERT = (
    "INSERT INTO dead_letters (digest, event_id, reason, detail, source, received_at,"
    " stored_at, body, origin)"
    " SELECT d, e, r, t, s, a, %s, b, o FROM unnest(%s::bytea[], %s::text[], %s::text[],"
    " %s::text[], %s::text[], %s::timestamptz[], %s::bytea[], %s::text[])"
    " AS x(d, e, r, t, s, a, b, o)"
    " ON CONFLICT (digest) WHERE replayed_at IS NULL DO NOTHING RETURNING digest")


def _unique(letters: Sequence[DeadLetter]) -> list[DeadLetter]:
    return list({letter.digest: letter for letter in reversed(letters)}.values())[::-1]


def _params(unique: Sequence[DeadLetter], stored_at: datetime) -> tuple[object, ...]:
    return (stored_at, [x.digest for x in unique], [x.event_id for x in unique],
            [x.reason for x in unique], [x.detail for x in unique], [x.source for x in unique],
            [x.received_at for x in unique], [x.body for x in unique], [x.origin for x in unique])


async def store(conn: AsyncConnection, letters: Sequence[DeadLetter],
                stored_at: datetime) -> list[DeadLetter]:
    """Insert the dead letters not already waiting (same digest, not replayed); returns those
    inserted. Inside the caller's transaction when there is one."""
    unique = _unique(letters)
    if not unique:
        return []
    cur = await conn.execute(_INSERT, _params(unique, stored_at))
    new = {bytes(row[0]) for row in await cur.fetchall()}
    return [x for x in unique if x.digest in new]


def store_sync(conn: Connection, letters: Sequence[DeadLetter], stored_at: datetime,
               ) -> list[DeadLetter]:
    """:func:`store` for a synchronous connection (a connector's, before it checkpoints)."""
    unique = _unique(letters)
    if not unique:
        return []
    cur = conn.execute(_INSERT, _params(unique, stored_at))
    new = {bytes(row[0]) for row in cur.fetchall()}
    return [x for x in unique if x.digest in new]


def count(stored: Sequence[DeadLetter]) -> None:
    """Count stored dead letters (after their transaction committed)."""
    for letter in stored:
        STORED.labels(letter.reason, origin_kind(letter.origin)).inc()


async def page(conn: AsyncConnection, reason: str | None, source: str | None,
               limit: int, offset: int) -> tuple[int, list[Listed]]:
    """How many match, and one page of them, newest first."""
    where = " WHERE (%(reason)s::text IS NULL OR reason = %(reason)s)" \
            " AND (%(source)s::text IS NULL OR source = %(source)s)"
    params = {"reason": reason, "source": source, "limit": limit, "offset": offset}
    cur = await conn.execute("SELECT count(*) FROM dead_letters" + where, params)
    row = await cur.fetchone()
    cur = await conn.execute(
        f"SELECT {_COLUMNS} FROM dead_letters" + where +
        " ORDER BY received_at DESC, id DESC LIMIT %(limit)s OFFSET %(offset)s", params)
    return (int(row[0]) if row else 0), [listed(r) for r in await cur.fetchall()]


async def body_of(conn: AsyncConnection, letter_id: int) -> bytes | None:
    """The original bytes of one dead letter (None: no such dead letter)."""
    cur = await conn.execute("SELECT body FROM dead_letters WHERE id = %s", (letter_id,))
    row = await cur.fetchone()
    return bytes(row[0]) if row else None


async def mark_replayed(conn: AsyncConnection, letter_id: int, at: datetime) -> bool:
    cur = await conn.execute("UPDATE dead_letters SET replayed_at = %s WHERE id = %s",
                             (at, letter_id))
    return cur.rowcount > 0


async def prune(conn: AsyncConnection, stored_before: datetime) -> int:
    """Forget dead letters stored before ``stored_before`` (the retention horizon)."""
    cur = await conn.execute("DELETE FROM dead_letters WHERE stored_at < %s", (stored_before,))
    return cur.rowcount
