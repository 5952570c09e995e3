"""Writing and reading sensor aggregate cells."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from psycopg import AsyncConnection, sql

from ioc.kpis.buckets import Bucket
from ioc.kpis.sensors import SensorAgg, SensorKey
from ioc.storage.staging import Stage, copy_rows

TABLES: dict[Bucket, str] = {Bucket.MINUTE: "sensor_1m", Bucket.HOUR: "sensor_1h",
                             Bucket.DAY: "sensor_1d"}


@dataclass(frozen=True, slots=True)
class StoredSensorCell:
    bucket_size: Bucket
    key: SensorKey
    agg: SensorAgg
    version: int


STAGE = Stage("stage_sensor", (("size", "text"), ("metric", "text"), ("area", "text"),
                               ("station_id", "text"), ("bucket", "timestamptz"),
                               ("readings", "int8"), ("total", "numeric"), ("low", "numeric"),
                               ("high", "numeric")))

_UPSERT = """{name} AS (
    INSERT INTO {table} AS t (metric, area, station_id, bucket, readings, total, low, high)
    SELECT metric, area, station_id, bucket, readings, total, low, high FROM stage_sensor
    WHERE size = '{size}' ORDER BY metric, area, station_id, bucket
    ON CONFLICT (metric, area, station_id, bucket) DO UPDATE SET
    readings = t.readings + EXCLUDED.readings, total = t.total + EXCLUDED.total,
    low = LEAST(t.low, EXCLUDED.low), high = GREATEST(t.high, EXCLUDED.high),
    version = t.version + 1, updated_at = now()
    RETURNING '{size}' AS size, metric, area, station_id, bucket, readings, total, low, high,
    version)"""

_ADD_ALL = "WITH " + ", ".join(
    _UPSERT.format(name=f"up_{size.value}", table=table, size=size.value)
    for size, table in TABLES.items()
) + " " + " UNION ALL ".join(f"SELECT * FROM up_{size.value}" for size in TABLES)


async def add_sensor_cells(conn: AsyncConnection, cells: Mapping[Bucket, Mapping[SensorKey, SensorAgg]],
                           ) -> list[StoredSensorCell]:
    """Merge aggregates into stored cells of every bucket size in one statement (inside the
    batch transaction); returns the new totals."""
    if not any(cells.values()):
        return []
    await copy_rows(conn, STAGE, (
        (size_text, k.metric, k.area, k.station_id, k.bucket, a.readings, a.total, a.low,
         a.high)
        for size, by_key in cells.items() for size_text in (str(size),)
        for k, a in by_key.items()))
    cur = await conn.execute(_ADD_ALL)
    return [StoredSensorCell(Bucket.of_text(r[0]), SensorKey(r[1], r[2], r[3], r[4]),
                             SensorAgg(r[5], r[6], r[7], r[8]), r[9])
            for r in await cur.fetchall()]


async def sensor_series(conn: AsyncConnection, *, bucket: Bucket, metric: str, area: str,
                        station_id: str, start: datetime, end: datetime,
                        ) -> list[tuple[datetime, SensorAgg]]:
    query = sql.SQL(
        "SELECT bucket, readings, total, low, high FROM {table}"
        " WHERE metric = %s AND area = %s AND station_id = %s AND bucket >= %s AND bucket < %s"
        " ORDER BY bucket"
    ).format(table=sql.Identifier(TABLES[bucket]))
    cur = await conn.execute(query, (metric, area, station_id, start, end))
    return [(r[0], SensorAgg(r[1], r[2], r[3], r[4])) for r in await cur.fetchall()]
