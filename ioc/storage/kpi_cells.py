"""Writing KPI cells: additive upserts that return the new absolute values."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import NamedTuple

from psycopg import AsyncConnection

from ioc.kpis.buckets import Bucket
from ioc.kpis.counters import CellKey, Counts
from ioc.storage.staging import Stage, copy_rows

TABLES: dict[Bucket, str] = {Bucket.MINUTE: "kpi_1m", Bucket.HOUR: "kpi_1h", Bucket.DAY: "kpi_1d"}


class StoredCell(NamedTuple):
    """A cell's absolute value after a write (a tuple: a batch returns thousands, and a
    frozen dataclass's ``__init__`` was a visible share of the worker's time)."""

    bucket_size: Bucket
    kpi: str
    area: str
    dim: str
    dim_value: str
    bucket: datetime
    num: int
    den: int
    version: int


STAGE = Stage("stage_kpi", (("size", "text"), ("kpi", "text"), ("area", "text"),
                            ("dim", "text"), ("dim_value", "text"), ("bucket", "timestamptz"),
                            ("num", "int8"), ("den", "int8")))

_UPSERT = """{name} AS (
    INSERT INTO {table} AS t (kpi, area, dim, dim_value, bucket, num, den)
    SELECT kpi, area, dim, dim_value, bucket, num, den FROM stage_kpi
    WHERE size = '{size}' ORDER BY kpi, area, dim, dim_value, bucket
    ON CONFLICT (kpi, area, dim, dim_value, bucket) DO UPDATE SET
    num = t.num + EXCLUDED.num, den = t.den + EXCLUDED.den,
    version = t.version + 1, updated_at = now()
    RETURNING '{size}' AS size, kpi, area, dim, dim_value, bucket, num, den, version)"""

_ADD_ALL = "WITH " + ", ".join(
    _UPSERT.format(name=f"up_{size.value}", table=table, size=size.value)
    for size, table in TABLES.items()
) + " " + " UNION ALL ".join(f"SELECT * FROM up_{size.value} WHERE dim = ''" for size in TABLES)
"""Every row is upserted (a data-modifying WITH runs to completion); only the cells without
breakdown come back, the ones published."""


async def add_cells(conn: AsyncConnection,
                    cells: Mapping[Bucket, Mapping[CellKey, Counts]]) -> list[StoredCell]:
    """Add deltas to stored cells of every bucket size in one statement (inside the batch
    transaction); returns the new totals of the cells without breakdown. Rows are upserted
    in key order, so concurrent workers lock shared cells in the same order."""
    if not any(cells.values()):
        return []
    await copy_rows(conn, STAGE, (
        (size_text, k.kpi, k.area, k.dim, k.dim_value, k.bucket, n, d)
        for size, by_key in cells.items() for size_text in (str(size),)
        for k, (n, d) in by_key.items()))
    cur = await conn.execute(_ADD_ALL)
    return [StoredCell(Bucket.of_text(row[0]), *row[1:]) for row in await cur.fetchall()]


async def bump_index_versions(conn: AsyncConnection, pairs: Iterable[tuple[str, datetime]],
                              ) -> dict[tuple[str, datetime], int]:
    """Raise the service index's version of each (area, day start) and return the new ones
    (inside the batch transaction, after :func:`add_cells`, before the indicator cells are
    read). The row lock orders concurrent workers: the later one waits, then reads cells
    that include the earlier one's commit, and publishes the higher version."""
    ordered = sorted(set(pairs))
    if not ordered:
        return {}
    cur = await conn.execute(
        "INSERT INTO index_versions AS t (area, bucket)"
        " SELECT area, bucket FROM unnest(%s::text[], %s::timestamptz[]) AS s(area, bucket)"
        " ORDER BY area, bucket"
        " ON CONFLICT (area, bucket) DO UPDATE SET version = t.version + 1"
        " RETURNING area, bucket, version",
        ([a for a, _ in ordered], [b for _, b in ordered]))
    return {(area, bucket): version for area, bucket, version in await cur.fetchall()}
