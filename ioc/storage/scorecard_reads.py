"""The service index's indicators read from the daily (1d) cells, summed over a period."""

from __future__ import annotations

from datetime import datetime

from psycopg import AsyncConnection

from ioc.kpis.service_index import INDICATOR_KPIS, Counts
from ioc.scorecard import By

_WHERE: dict[By, str] = {
    "province": "area = '' AND dim = ''",
    "area": "area <> '' AND dim = ''",
    "agency": "area = '' AND dim = 'agency_code'",
}
_SCOPE: dict[By, str] = {"province": "area", "area": "area", "agency": "dim_value"}


async def indicator_sums(conn: AsyncConnection, by: By, start: datetime, end: datetime,
                         scope: str | None = None) -> dict[str, dict[str, Counts]]:
    """{scope: {indicator KPI: (Σ numerator, Σ denominator)}} over the local days starting
    in [start, end): the province (scope ""), every area, or every agency; or only
    ``scope`` when given."""
    cur = await conn.execute(
        f"SELECT {_SCOPE[by]}, kpi, sum(num)::bigint, sum(den)::bigint FROM kpi_1d"
        f" WHERE {_WHERE[by]} AND kpi = ANY(%s::text[]) AND bucket >= %s AND bucket < %s"
        f" AND (%s::text IS NULL OR {_SCOPE[by]} = %s::text)"
        f" GROUP BY 1, 2",
        (list(INDICATOR_KPIS), start, end, scope, scope))
    out: dict[str, dict[str, Counts]] = {}
    for scope_code, kpi, num, den in await cur.fetchall():
        out.setdefault(scope_code, {})[kpi] = (int(num), int(den))
    return out


async def daily_indicator_sums(conn: AsyncConnection, by: By, scope: str, start: datetime,
                               end: datetime) -> dict[datetime, dict[str, Counts]]:
    """{day start: {indicator KPI: (numerator, denominator)}} of one scope over the days
    starting in [start, end)."""
    cur = await conn.execute(
        f"SELECT bucket, kpi, num, den FROM kpi_1d"
        f" WHERE {_WHERE[by]} AND {_SCOPE[by]} = %s AND kpi = ANY(%s::text[])"
        f" AND bucket >= %s AND bucket < %s",
        (scope, list(INDICATOR_KPIS), start, end))
    out: dict[datetime, dict[str, Counts]] = {}
    for day, kpi, num, den in await cur.fetchall():
        out.setdefault(day, {})[kpi] = (int(num), int(den))
    return out
