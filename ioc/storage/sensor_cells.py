"""Writing and reading sensor aggregate cells."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from psycopg import AsyncConnection, sql

from ioc.kpis.buckets import Bucket
from ioc.kpis.sensors import SensorAgg, SensorKey

TABLES: dict[Bucket, str] = {Bucket.MINUTE: "sensor_1m", Bucket.HOUR: "sensor_1h",
                             Bucket.DAY: "sensor_1d"}


@dataclass(frozen=True, slots=True)
class StoredSensorCell:
    bucket_size: Bucket
    key: SensorKey
    agg: SensorAgg
    version: int


async def add_sensor_cells(conn: AsyncConnection, bucket_size: Bucket,
                           cells: Mapping[SensorKey, SensorAgg]) -> list[StoredSensorCell]:
    if not cells:
        return []
    keys = sorted(cells)
    query = sql.SQL(
        "INSERT INTO {table} AS t (metric, district, station_id, bucket, readings, total, low, high)"
        " SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::timestamptz[],"
        " %s::bigint[], %s::numeric[], %s::numeric[], %s::numeric[])"
        " ON CONFLICT (metric, district, station_id, bucket) DO UPDATE SET"
        " readings = t.readings + EXCLUDED.readings, total = t.total + EXCLUDED.total,"
        " low = LEAST(t.low, EXCLUDED.low), high = GREATEST(t.high, EXCLUDED.high),"
        " version = t.version + 1, updated_at = now()"
        " RETURNING metric, district, station_id, bucket, readings, total, low, high, version"
    ).format(table=sql.Identifier(TABLES[bucket_size]))
    cur = await conn.execute(query, (
        [k.metric for k in keys], [k.district for k in keys], [k.station_id for k in keys],
        [k.bucket for k in keys], [cells[k].readings for k in keys], [cells[k].total for k in keys],
        [cells[k].low for k in keys], [cells[k].high for k in keys],
    ))
    return [StoredSensorCell(bucket_size, SensorKey(r[0], r[1], r[2], r[3]),
                             SensorAgg(r[4], r[5], r[6], r[7]), r[8])
            for r in await cur.fetchall()]


async def sensor_series(conn: AsyncConnection, *, bucket: Bucket, metric: str, district: str,
                        station_id: str, start: datetime, end: datetime,
                        ) -> list[tuple[datetime, SensorAgg]]:
    query = sql.SQL(
        "SELECT bucket, readings, total, low, high FROM {table}"
        " WHERE metric = %s AND district = %s AND station_id = %s AND bucket >= %s AND bucket < %s"
        " ORDER BY bucket"
    ).format(table=sql.Identifier(TABLES[bucket]))
    cur = await conn.execute(query, (metric, district, station_id, start, end))
    return [(r[0], SensorAgg(r[1], r[2], r[3], r[4])) for r in await cur.fetchall()]
