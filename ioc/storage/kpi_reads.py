"""Reading KPI cells back: series over a range, today's value, the wall's snapshot."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from psycopg import AsyncConnection, sql

from ioc.kpis.buckets import Bucket
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


async def day_cells(conn: AsyncConnection, day_start: datetime,
                    kpis: list[str] | None = None) -> list[CellRow]:
    """Every province and area cell (no breakdown) of the local day starting at ``day_start``."""
    cur = await conn.execute(
        "SELECT kpi, area, bucket, num, den, version FROM kpi_1d"
        " WHERE bucket = %s AND dim = '' AND (%s::text[] IS NULL OR kpi = ANY(%s::text[]))",
        (day_start, kpis, kpis),
    )
    return [CellRow(*row) for row in await cur.fetchall()]
