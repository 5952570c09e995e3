"""Writing KPI cells: additive upserts that return the new absolute values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from psycopg import AsyncConnection, sql

from ioc.kpis.buckets import Bucket
from ioc.kpis.counters import CellKey, Counts

TABLES: dict[Bucket, str] = {Bucket.MINUTE: "kpi_1m", Bucket.HOUR: "kpi_1h", Bucket.DAY: "kpi_1d"}


@dataclass(frozen=True, slots=True)
class StoredCell:
    """A cell's absolute value after a write."""

    bucket_size: Bucket
    kpi: str
    district: str
    dim: str
    dim_value: str
    bucket: datetime
    num: int
    den: int
    version: int


async def add_cells(
    conn: AsyncConnection, bucket_size: Bucket, cells: Mapping[CellKey, Counts]
) -> list[StoredCell]:
    """Add deltas to stored cells (inside the batch transaction); returns the new totals."""
    if not cells:
        return []
    keys = sorted(cells)
    query = sql.SQL(
        "INSERT INTO {table} AS t (kpi, district, dim, dim_value, bucket, num, den)"
        " SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[],"
        " %s::timestamptz[], %s::bigint[], %s::bigint[])"
        " ON CONFLICT (kpi, district, dim, dim_value, bucket) DO UPDATE SET"
        " num = t.num + EXCLUDED.num, den = t.den + EXCLUDED.den,"
        " version = t.version + 1, updated_at = now()"
        " RETURNING kpi, district, dim, dim_value, bucket, num, den, version"
    ).format(table=sql.Identifier(TABLES[bucket_size]))
    cur = await conn.execute(query, (
        [k.kpi for k in keys], [k.district for k in keys], [k.dim for k in keys],
        [k.dim_value for k in keys], [k.bucket for k in keys],
        [cells[k][0] for k in keys], [cells[k][1] for k in keys],
    ))
    return [StoredCell(bucket_size, *row) for row in await cur.fetchall()]
