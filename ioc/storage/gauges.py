"""Every gauge, read from the stored facts: at one instant, or sampled at many."""

from __future__ import annotations

from datetime import datetime, timedelta

from psycopg import AsyncConnection

from ioc.storage import dossier_state, station_state


async def gauges_now(conn: AsyncConnection, t: datetime, silence: timedelta,
                     ) -> dict[tuple[str, str], int]:
    """{(kpi, area or ''): value} at instant t for every gauge; absent means 0."""
    values = await dossier_state.gauges_now(conn, t)
    values.update(await station_state.silent_now(conn, t, silence))
    return values


async def gauge_samples(conn: AsyncConnection, kpi: str, instants: list[datetime],
                        area: str | None, silence: timedelta) -> dict[datetime, int]:
    """One gauge for one scope at each instant; absent means 0."""
    if kpi == "sensor.stations_silent":
        return await station_state.silent_samples(conn, instants, area, silence)
    kind, _, name = kpi.partition(".")
    index = {"open": 0, "overdue_open": 1, "due_soon": 2}[name]
    samples = await dossier_state.gauge_samples(
        conn, instants, area, "feedback" if kind == "feedback" else "dossier")
    return {t: values[index] for t, values in samples.items()}
