"""What the monthly report reads from PostgreSQL: the province's KPI cells summed over the
month's days, and the alert episodes that fired in the month. Rows come back as stored;
:mod:`ioc.report.build` makes the report of them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection, sql
from psycopg.rows import dict_row

from ioc.kpis.buckets import Bucket
from ioc.kpis.counters import PROVINCE
from ioc.storage.alert_reads import ALERT_COLUMNS, ALERT_FROM
from ioc.storage.kpi_cells import TABLES

MAX_ALERTS = 500
"""Alert episodes listed at most; the report says how many more there were."""


@dataclass(frozen=True, slots=True)
class MonthSum:
    kpi: str
    num: int
    den: int


async def month_sums(conn: AsyncConnection, start: datetime, end: datetime,
                     kpis: Sequence[str]) -> dict[str, MonthSum]:
    """Σ numerator and Σ denominator of the province's daily (1d) cells, without breakdown,
    of each KPI over the days starting in [start, end); KPIs without a cell are left out."""
    query = sql.SQL(
        "SELECT kpi, sum(num)::bigint, sum(den)::bigint FROM {table}"
        " WHERE area = %s AND dim = '' AND dim_value = '' AND kpi = ANY(%s::text[])"
        " AND bucket >= %s AND bucket < %s GROUP BY kpi"
    ).format(table=sql.Identifier(TABLES[Bucket.DAY]))
    cur = await conn.execute(query, (PROVINCE, list(kpis), start, end))
    return {kpi: MonthSum(kpi, int(num), int(den)) for kpi, num, den in await cur.fetchall()}


async def fired_alerts(conn: AsyncConnection, start: datetime, end: datetime,
                       limit: int = MAX_ALERTS) -> tuple[list[dict[str, Any]], int]:
    """The alert episodes whose ``fired_at`` lies in [start, end), oldest first (at most
    ``limit``), as :mod:`ioc.storage.alert_reads` reads them; and how many there were."""
    where = "a.fired_at >= %s AND a.fired_at < %s"
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {ALERT_COLUMNS} FROM {ALERT_FROM} WHERE {where}"
                          " ORDER BY a.fired_at, a.id LIMIT %s", (start, end, limit))
        rows = list(await cur.fetchall())
        await cur.execute(f"SELECT count(*) AS n FROM alerts a WHERE {where}", (start, end))
        counted = await cur.fetchone()
    return rows, int(counted["n"]) if counted else len(rows)
