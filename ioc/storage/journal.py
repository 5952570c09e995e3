"""The intake journal: acknowledged events kept until the stream worker has counted them.

Producers (HTTP ingest, the connectors) append what they are about to publish before they
acknowledge it to their caller; the worker's housekeeping forgets an entry once its
(source, id) digest is in the deduplication ledger; after the embedded, memory-only broker
restarts, the worker re-sends every entry still here to the new incarnation
(``streams/relay.py``). docs/design.md ("Nothing acknowledged is lost") gives the argument.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import AsyncConnection

_INSERT = (
    "INSERT INTO intake_journal (digest, topic, key, value, received_at)"
    " SELECT * FROM unnest(%s::bytea[], %s::text[], %s::bytea[], %s::bytea[], %s::timestamptz[])"
    " RETURNING seq")


@dataclass(frozen=True, slots=True)
class Entry:
    """One record a producer promised: where it goes, its bytes, when it came in."""

    digest: bytes
    topic: str
    key: bytes | None
    value: bytes
    received_at: datetime


@dataclass(frozen=True, slots=True)
class Stored:
    seq: int
    topic: str
    key: bytes | None
    value: bytes
    received_at: datetime


def _columns(entries: Sequence[Entry]) -> tuple[list[bytes], list[str], list[bytes | None],
                                                 list[bytes], list[datetime]]:
    return ([e.digest for e in entries], [e.topic for e in entries], [e.key for e in entries],
            [e.value for e in entries], [e.received_at for e in entries])


async def append(conn: AsyncConnection, entries: Sequence[Entry]) -> list[int]:
    """Keep the entries (committed when this returns, on an autocommit connection); their
    sequence numbers, for :func:`discard` if publishing them fails."""
    if not entries:
        return []
    cur = await conn.execute(_INSERT, _columns(entries))
    return [row[0] for row in await cur.fetchall()]


def append_sync(conn: psycopg.Connection, entries: Sequence[Entry]) -> list[int]:
    """:func:`append` for the connectors' synchronous publishers."""
    if not entries:
        return []
    cur = conn.execute(_INSERT, _columns(entries))
    return [row[0] for row in cur.fetchall()]


_DISCARD = "DELETE FROM intake_journal WHERE seq = ANY(%s)"


async def discard(conn: AsyncConnection, seqs: Sequence[int]) -> None:
    """Forget entries whose publishing failed: the caller was told to retry."""
    if seqs:
        await conn.execute(_DISCARD, (list(seqs),))


def discard_sync(conn: psycopg.Connection, seqs: Sequence[int]) -> None:
    if seqs:
        conn.execute(_DISCARD, (list(seqs),))


async def prune(conn: AsyncConnection, received_before: datetime) -> int:
    """Forget entries the worker has counted (digest in the ledger) and entries older than
    ``received_before`` (past the lateness limit, nothing could count them any more)."""
    cur = await conn.execute(
        "DELETE FROM intake_journal j WHERE j.received_at < %s"
        " OR EXISTS (SELECT 1 FROM event_ledger l WHERE l.key = j.digest)", (received_before,))
    return cur.rowcount


_RELAY_LOCK = 0x10C_4E1A  # advisory lock id


def lock_relay(conn: psycopg.Connection) -> None:
    """Hold the relay lock until this transaction ends: one relaying worker at a time."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_RELAY_LOCK,))


def relayed_to(conn: psycopg.Connection) -> str | None:
    """The broker incarnation (cluster id) the journal was last re-sent to."""
    row = conn.execute("SELECT cluster_id FROM intake_relay").fetchone()
    return str(row[0]) if row else None


def pending(conn: psycopg.Connection, after_seq: int, limit: int) -> list[Stored]:
    """Entries after ``after_seq``, in order, at most ``limit``."""
    rows = conn.execute(
        "SELECT seq, topic, key, value, received_at FROM intake_journal WHERE seq > %s"
        " ORDER BY seq LIMIT %s", (after_seq, limit)).fetchall()
    return [Stored(r[0], r[1], None if r[2] is None else bytes(r[2]), bytes(r[3]), r[4])
            for r in rows]


def mark_relayed(conn: psycopg.Connection, cluster_id: str, at: datetime) -> None:
    conn.execute(
        "INSERT INTO intake_relay (only_row, cluster_id, relayed_at) VALUES (true, %s, %s)"
        " ON CONFLICT (only_row) DO UPDATE SET cluster_id = EXCLUDED.cluster_id,"
        " relayed_at = EXCLUDED.relayed_at", (cluster_id, at))


def size(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT count(*) FROM intake_journal").fetchone()
    return int(row[0]) if row else 0
