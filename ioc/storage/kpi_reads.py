"""Reading KPI cells back: series over a range, today's value, the wall's snapshot."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import NamedTuple

from psycopg import AsyncConnection, sql

from ioc.kpis.buckets import Bucket
from ioc.kpis.service_index import INDICATOR_KPIS
from ioc.storage.kpi_cells import TABLES


class CellRow(NamedTuple):
    """A stored cell as read back (a tuple: a day of 1-minute cells is 1,440 of them)."""

    kpi: str
    area: str
    bucket: datetime
    num: int
    den: int
    version: int


async def series(conn: AsyncConnection, *, kpi: str, bucket: Bucket, area: str,
                 start: datetime, end: datetime, dim: str = "", dim_value: str = "",
                 ) -> list[CellRow]:
    query = sql.SQL(
        "SELECT kpi, area, bucket, num, den, version FROM {table}"
        " WHERE kpi = %s AND area = %s AND dim = %s AND dim_value = %s"
        " AND bucket >= %s AND bucket < %s ORDER BY bucket"
    ).format(table=sql.Identifier(TABLES[bucket]))
    cur = await conn.execute(query, (kpi, area, dim, dim_value, start, end))
    return [CellRow(*row) for row in await cur.fetchall()]


async def indicator_series(conn: AsyncConnection, *, bucket: Bucket, area: str, start: datetime,
                           end: datetime, dim: str = "", dim_value: str = "") -> list[CellRow]:
    """The service index's indicator cells of one scope over [start, end), for
    :func:`ioc.changes.index_messages`."""
    query = sql.SQL(
        "SELECT kpi, area, bucket, num, den, version FROM {table}"
        " WHERE kpi = ANY(%s::text[]) AND area = %s AND dim = %s AND dim_value = %s"
        " AND bucket >= %s AND bucket < %s"
    ).format(table=sql.Identifier(TABLES[bucket]))
    cur = await conn.execute(query, (list(INDICATOR_KPIS), area, dim, dim_value, start, end))
    return [CellRow(*row) for row in await cur.fetchall()]


async def day_cells(conn: AsyncConnection, day_start: datetime,
                    kpis: list[str] | None = None) -> list[CellRow]:
    """Every province and area cell (no breakdown) of the local day starting at ``day_start``."""
    cur = await conn.execute(
        "SELECT kpi, area, bucket, num, den, version FROM kpi_1d"
        " WHERE bucket = %s AND dim = '' AND (%s::text[] IS NULL OR kpi = ANY(%s::text[]))",
        (day_start, kpis, kpis),
    )
    return [CellRow(*row) for row in await cur.fetchall()]


async def indicator_cells(conn: AsyncConnection, scopes: Iterable[tuple[str, datetime]],
                          ) -> list[CellRow]:
    """The service index's indicator cells (1d, no breakdown) of each (area, day start)."""
    pairs = sorted(set(scopes))
    if not pairs:
        return []
    cur = await conn.execute(
        "SELECT k.kpi, k.area, k.bucket, k.num, k.den, k.version FROM kpi_1d k"
        " JOIN unnest(%s::text[], %s::timestamptz[]) AS s(area, bucket)"
        "  ON k.area = s.area AND k.bucket = s.bucket"
        " WHERE k.dim = '' AND k.kpi = ANY(%s::text[])",
        ([a for a, _ in pairs], [b for _, b in pairs], list(INDICATOR_KPIS)))
    return [CellRow(*row) for row in await cur.fetchall()]


async def index_versions(conn: AsyncConnection, day_start: datetime) -> dict[tuple[str, datetime], int]:
    """The service index's version of every (area, that day) (see ``bump_index_versions``)."""
    cur = await conn.execute("SELECT area, bucket, version FROM index_versions WHERE bucket = %s",
                             (day_start,))
    return {(area, bucket): version for area, bucket, version in await cur.fetchall()}
