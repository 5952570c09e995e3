"""Sensor aggregates (sensor.avg, sensor.min, sensor.max, sensor.readings) as mergeable cells.

Sums are exact decimals of the values as written (``Decimal(repr(value))``), so the mean
does not depend on the order or batching in which readings are added, the way a float sum
would. Pure functions, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from ioc.event_data import SensorReading
from ioc.events import Event
from ioc.kpis.buckets import Bucket, bucket_start

ALL = ""
"""area / station_id value meaning: not narrowed."""


@dataclass(frozen=True, slots=True, order=True)
class SensorKey:
    metric: str
    area: str
    """'' for the province or for a station's own cell."""
    station_id: str
    """'' unless this is one station's cell."""
    bucket: datetime


@dataclass(frozen=True, slots=True)
class SensorAgg:
    readings: int
    total: Decimal
    low: Decimal
    high: Decimal

    def __add__(self, other: SensorAgg) -> SensorAgg:
        return SensorAgg(self.readings + other.readings, self.total + other.total,
                         min(self.low, other.low), max(self.high, other.high))

    @property
    def mean(self) -> float:
        return float(self.total / self.readings)


SensorCells = dict[SensorKey, SensorAgg]


def exact(value: float) -> Decimal:
    """The reading as the decimal it was written as (shortest round-trip form)."""
    return Decimal(repr(float(value)))


def sensor_cells(events: Iterable[Event], utc_offset: timedelta) -> SensorCells:
    """1-minute cells per station, per area and province-wide, for each metric."""
    cells: SensorCells = {}
    for event in events:
        data = event.data
        if not isinstance(data, SensorReading):
            continue
        value = exact(data.value)
        one = SensorAgg(1, value, value, value)
        minute = bucket_start(event.time, Bucket.MINUTE, utc_offset)
        for area, station in ((ALL, ALL), (data.area, ALL), (ALL, data.station_id)):
            key = SensorKey(data.metric, area, station, minute)
            old = cells.get(key)
            cells[key] = one if old is None else old + one
    return cells


def rollup_sensors(cells: Mapping[SensorKey, SensorAgg], bucket: Bucket,
                   utc_offset: timedelta) -> SensorCells:
    out: SensorCells = {}
    for key, agg in cells.items():
        coarse = SensorKey(key.metric, key.area, key.station_id,
                           bucket_start(key.bucket, bucket, utc_offset))
        old = out.get(coarse)
        out[coarse] = agg if old is None else old + agg
    return out


def merge_sensors(into: SensorCells, cells: Mapping[SensorKey, SensorAgg]) -> None:
    for key, agg in cells.items():
        old = into.get(key)
        into[key] = agg if old is None else old + agg


def aggregate_value(kpi: str, agg: SensorAgg) -> float | int:
    """The value of one sensor KPI for a cell."""
    if kpi == "sensor.readings":
        return agg.readings
    if kpi == "sensor.avg":
        return agg.mean
    if kpi == "sensor.min":
        return float(agg.low)
    if kpi == "sensor.max":
        return float(agg.high)
    raise ValueError(f"not a sensor KPI: {kpi}")


SENSOR_KPIS = ("sensor.avg", "sensor.min", "sensor.max", "sensor.readings")
