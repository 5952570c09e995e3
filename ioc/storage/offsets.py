"""Consumed offsets kept in PostgreSQL, in the same transaction as the KPIs they produced."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from psycopg import AsyncConnection, Connection

TopicPartition = tuple[str, int]

_POSITIONS = ("SELECT partition, next_offset FROM consumer_offsets"
              " WHERE cluster_id = %s AND consumer = %s AND topic = %s")


async def lock_positions(
    conn: AsyncConnection, cluster_id: str, consumer: str, partitions: Iterable[TopicPartition]
) -> dict[TopicPartition, int]:
    """Lock and read the next offset to process for each partition (0 when unknown)."""
    wanted = sorted(set(partitions))
    if not wanted:
        return {}
    # Make sure a row exists to lock, so two workers on one partition serialise here.
    await conn.execute(
        "INSERT INTO consumer_offsets (cluster_id, consumer, topic, partition, next_offset)"
        " SELECT %s, %s, t, p, 0 FROM unnest(%s::text[], %s::int[]) AS x(t, p)"
        " ON CONFLICT DO NOTHING",
        (cluster_id, consumer, [t for t, _ in wanted], [p for _, p in wanted]),
    )
    cur = await conn.execute(
        "SELECT topic, partition, next_offset FROM consumer_offsets"
        " WHERE cluster_id = %s AND consumer = %s AND (topic, partition) IN"
        " (SELECT * FROM unnest(%s::text[], %s::int[])) FOR UPDATE",
        (cluster_id, consumer, [t for t, _ in wanted], [p for _, p in wanted]),
    )
    return {(row[0], row[1]): row[2] for row in await cur.fetchall()}


async def advance(
    conn: AsyncConnection, cluster_id: str, consumer: str, next_offsets: Mapping[TopicPartition, int]
) -> None:
    if not next_offsets:
        return
    items = sorted(next_offsets.items())
    await conn.execute(
        "UPDATE consumer_offsets AS c SET next_offset = GREATEST(c.next_offset, x.o)"
        " FROM unnest(%s::text[], %s::int[], %s::bigint[]) AS x(t, p, o)"
        " WHERE c.cluster_id = %s AND c.consumer = %s AND c.topic = x.t AND c.partition = x.p",
        ([t for (t, _), _ in items], [p for (_, p), _ in items], [o for _, o in items],
         cluster_id, consumer),
    )


async def stored_positions(conn: AsyncConnection, cluster_id: str, consumer: str,
                           topic: str) -> dict[int, int]:
    """The next offset to process per partition of ``topic``, as committed with the KPIs
    (read without locking: for the lag gauge, never for processing)."""
    cur = await conn.execute(_POSITIONS, (cluster_id, consumer, topic))
    return {row[0]: row[1] for row in await cur.fetchall()}


def committed_positions(conn: Connection, cluster_id: str, consumer: str, topic: str) -> dict[int, int]:
    """:func:`stored_positions` from a synchronous connection: how far a worker has got, seen
    from outside (the benchmarks and the tests wait on it)."""
    return {row[0]: row[1] for row in conn.execute(_POSITIONS, (cluster_id, consumer, topic)).fetchall()}


def committed_total(conn: Connection) -> int:
    """The sum of every stored next offset: it moves whenever any worker commits a batch."""
    row = conn.execute("SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets").fetchone()
    return int(row[0]) if row else 0


def all_positions(conn: Connection) -> list[tuple[str, int, int]]:
    """Every stored (topic, partition, next offset), in that order (a backup's round trip)."""
    rows = conn.execute("SELECT topic, partition, next_offset FROM consumer_offsets ORDER BY 1, 2")
    return [(t, p, o) for t, p, o in rows.fetchall()]
