"""The gauge sensor.stations_silent. Pure.

A reading is "in the D before t" when t - D < its time <= t. A station is silent at t when
it has a reading in the 24 h before t and none in the silence window (10 minutes by
default) before t. Its area is that of its latest reading at or before t (the smaller
code when two readings share that time).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from ioc.event_data import SensorReading
from ioc.events import Event

HISTORY = timedelta(hours=24)

ReadingTimes = dict[tuple[str, datetime], str]
"""(station_id, reading time) -> area."""


def reading_times(events: Iterable[Event]) -> ReadingTimes:
    out: ReadingTimes = {}
    for event in events:
        data = event.data
        if isinstance(data, SensorReading):
            key = (data.station_id, event.time)
            out[key] = min(out.get(key, data.area), data.area)
    return out


def silent_at(readings: Mapping[tuple[str, datetime], str], t: datetime,
              silence: timedelta) -> dict[str, int]:
    """{area or '' for the province: silent stations} at instant t; absent means 0."""
    latest: dict[str, tuple[datetime, str]] = {}
    for (station, at), area in readings.items():
        if t - HISTORY < at <= t:
            best = latest.get(station)
            if best is None or at > best[0] or (at == best[0] and area < best[1]):
                latest[station] = (at, area)
    out: dict[str, int] = {}
    for at, area in latest.values():
        if at <= t - silence:
            for scope in ("", area):
                out[scope] = out.get(scope, 0) + 1
    return out
