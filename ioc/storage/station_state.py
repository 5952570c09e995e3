"""Station reading times in PostgreSQL and the gauge sensor.stations_silent from them
(the same definition as ``ioc.kpis.stations``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from psycopg import AsyncConnection

from ioc.kpis.stations import HISTORY
from ioc.storage.staging import Stage, copy_rows

STAGE = Stage("stage_readings", (("station_id", "text"), ("at", "timestamptz"),
                                 ("area", "text")))

# Per sample instant t: each station's latest reading in (t - 24 h, t], kept if older than
# the silence window.
_SILENT = (
    "SELECT s.t, last.area FROM unnest(%(instants)s::timestamptz[]) AS s(t)"
    " CROSS JOIN LATERAL ("
    "  SELECT DISTINCT ON (r.station_id) r.station_id, r.area, r.at FROM station_readings r"
    "  WHERE r.at > s.t - %(history)s AND r.at <= s.t"
    "  ORDER BY r.station_id, r.at DESC, r.area) AS last"
    " WHERE last.at <= s.t - %(silence)s"
)


async def add_readings(conn: AsyncConnection, readings: Mapping[tuple[str, datetime], str]) -> None:
    if not readings:
        return
    await copy_rows(conn, STAGE, ((station, at, area)
                                  for (station, at), area in readings.items()))
    await conn.execute(
        "INSERT INTO station_readings AS t (station_id, at, area)"
        " SELECT station_id, at, area FROM stage_readings ORDER BY station_id, at"
        " ON CONFLICT (station_id, at) DO UPDATE SET area = LEAST(t.area, EXCLUDED.area)")


async def silent_samples(conn: AsyncConnection, instants: list[datetime], area: str | None,
                         silence: timedelta) -> dict[datetime, int]:
    if not instants:
        return {}
    cur = await conn.execute(
        f"SELECT t, count(*) FROM ({_SILENT}) AS x"
        " WHERE %(area)s::text IS NULL OR x.area = %(area)s::text GROUP BY t",
        {"instants": instants, "history": HISTORY, "silence": silence, "area": area},
    )
    return {row[0]: row[1] for row in await cur.fetchall()}


async def silent_now(conn: AsyncConnection, t: datetime, silence: timedelta) -> dict[tuple[str, str], int]:
    cur = await conn.execute(
        f"SELECT x.area, count(*) FROM ({_SILENT}) AS x GROUP BY ROLLUP (x.area)",
        {"instants": [t], "history": HISTORY, "silence": silence},
    )
    return {("sensor.stations_silent", area or ""): n for area, n in await cur.fetchall()}


async def prune(conn: AsyncConnection, older_than: datetime) -> int:
    cur = await conn.execute("DELETE FROM station_readings WHERE at < %s", (older_than,))
    return cur.rowcount
