"""``/api/v1/kpis``: the catalogue, series and today's value."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel, Field

from api.deps import Reader, State
from api.params import Instant, Text, given_area
from api.views import day_value, index_points, point
from ioc.changes import local_iso
from ioc.event_data import METRICS
from ioc.kpis.buckets import Bucket, bucket_range, bucket_start
from ioc.kpis.catalogue import BY_ID, CATALOGUE, Kind, KpiDef
from ioc.kpis.counters import PROVINCE
from ioc.kpis.sensors import SensorAgg, aggregate_value
from ioc.storage import gauges, kpi_reads, sensor_cells
from ioc.targets import targets_of

router = APIRouter(prefix="/api/v1/kpis", tags=["kpis"])

DEFAULT_WINDOW = {Bucket.MINUTE: timedelta(hours=2), Bucket.HOUR: timedelta(days=2),
                  Bucket.DAY: timedelta(days=31)}
MAX_POINTS = 20_000
MAX_GAUGE_SAMPLES = 2_000


def gauge_instants(first: datetime, end: datetime, now: datetime, bucket: Bucket,
                   ) -> list[tuple[datetime, datetime]]:
    """(bucket start, instant sampled) for each bucket from ``first`` before ``end`` that has
    begun by ``now``: the bucket's end, or ``now`` for the bucket still running."""
    step = timedelta(seconds=bucket.seconds)
    out = []
    start = first
    while start < end and start <= now:
        out.append((start, min(start + step, now)))
        start += step
    return out


class KpiInfo(BaseModel):
    id: str
    name: dict[str, str]
    unit: str
    kind: str
    dimensions: list[str]
    target: float | int | None = Field(
        description="the deployment's target (IOC_TARGETS_FILE, else the shipped default); "
                    "null: none")
    higher_is_better: bool


class Point(BaseModel):
    start: str
    value: float | int | None
    at: str | None = None
    """Gauges: the instant sampled (the bucket's end, or now for the current bucket)."""
    numerator: int | None = None
    denominator: int | None = None
    readings: int | None = None


class Series(BaseModel):
    kpi: str
    bucket: str
    area: str | None
    district: str | None = Field(default=None, description="v1 name of area, the same value")
    breakdown: dict[str, str] | None = None
    station_id: str | None = None
    metric: str | None = None
    points: list[Point]


class Current(BaseModel):
    kpi: str
    area: str | None
    district: str | None = Field(default=None, description="v1 name of area, the same value")
    station_id: str | None = None
    metric: str | None = None
    value: float | int | None
    numerator: int | None = None
    denominator: int | None = None
    readings: int | None = None
    as_of: str


def _kpi(kpi_id: str) -> KpiDef:
    kpi = BY_ID.get(kpi_id)
    if kpi is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown KPI '{kpi_id}'")
    return kpi


@dataclass(frozen=True)
class SensorScope:
    metric: str
    area: str
    station_id: str


def _sensor_scope(kpi: KpiDef, scope: str, station_id: str | None,
                  metric: str | None) -> SensorScope | None:
    """For sensor KPIs: which cells to read; None for the other KPIs (which take neither)."""
    if kpi.kind is not Kind.AGGREGATE:
        if station_id is not None or metric is not None:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY,
                                "only sensor KPIs take station_id and metric")
        return None
    if metric is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY,
                            f"{kpi.id} needs metric= (one of {', '.join(METRICS)})")
    if metric not in METRICS:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, f"unknown metric '{metric}'")
    if station_id is not None and scope:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY,
                            "give area or station_id, not both")
    return SensorScope(metric, scope, station_id or "")


def _sensor_point(kpi: KpiDef, start: datetime, agg: SensorAgg | None,
                  offset: timedelta) -> dict[str, Any]:
    return {"start": local_iso(start, offset),
            "value": aggregate_value(kpi.id, agg) if agg else None,
            "readings": agg.readings if agg else 0}


def _breakdown(kpi: KpiDef, given: dict[str, str | None]) -> tuple[str, str]:
    """(dim, value) of the one breakdown asked for, or ('', '') for none."""
    asked = {name: value for name, value in given.items() if value is not None}
    if not asked:
        return "", ""
    if len(asked) > 1:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY,
                            f"one breakdown at a time, not {', '.join(sorted(asked))}")
    (name, value), = asked.items()
    if name not in kpi.dimensions:
        listed = ", ".join(d for d in kpi.dimensions if d in given) or "none"
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY,
                            f"{kpi.id} has no breakdown by {name} (it has: {listed})")
    return name, value


_AREA_HELP = "a unit's code (GET /api/v1/areas), with or without leading zeros; omit: the province"


def area_param(
    state: State,
    area: Annotated[Text | None, Query(description=_AREA_HELP)] = None,
    district: Annotated[Text | None, Query(description="the v1 name of area; the same meaning")] = None,
) -> str | None:
    """The unit a read asks for, as the statistics office writes its code; None: the province."""
    given = given_area(area, district)
    if given is None:
        return None
    code = state.geography.canonical(given)
    if code is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY,
                            f"unknown area code '{given}' (GET /api/v1/areas lists them)")
    return code


AreaParam = Annotated[str | None, Depends(area_param)]


def _scope(state: State, area: str | None) -> str:
    return PROVINCE if area is None else area


@router.get("", response_model=list[KpiInfo])
async def catalogue(state: State, _: Reader) -> list[KpiInfo]:
    targets = targets_of(state.settings)
    return [KpiInfo(id=k.id, name={"vi": k.name_vi, "en": k.name_en}, unit=k.unit,
                    kind=k.kind.value, dimensions=["area", *k.dimensions],
                    target=targets.value(k.id), higher_is_better=targets.higher_is_better(k.id))
            for k in CATALOGUE]


_UNKNOWN: dict[int | str, dict[str, Any]] = {404: {"description": "unknown KPI"}}


@router.get("/{kpi_id}/series", response_model=Series, response_model_exclude_unset=True,
            responses=_UNKNOWN)
async def series(
    kpi_id: str, state: State, _: Reader,
    bucket: Annotated[Bucket, Query(description="1m, 1h or 1d (local days, UTC+07:00)")] = Bucket.MINUTE,
    start: Annotated[Instant | None,
                     Query(description="RFC 3339; default: a window before end")] = None,
    end: Annotated[Instant | None, Query(description="RFC 3339, exclusive; default: now")] = None,
    area: AreaParam = None,
    station_id: Annotated[Text | None, Query(description="sensor KPIs: one station")] = None,
    metric: Annotated[Text | None, Query(description="sensor KPIs: required, e.g. pm2_5")] = None,
    agency_code: Annotated[Text | None, Query(
        description="breakdown (KPIs that list it; province-wide)")] = None,
    channel: Annotated[Text | None, Query(description="breakdown of dossier.received")] = None,
    service_level: Annotated[Text | None, Query(description="breakdown of dossier.received")] = None,
    method: Annotated[Text | None, Query(description="breakdown of payment KPIs")] = None,
) -> dict[str, Any]:
    """One point per bucket with data whose start lies in [start, end), start aligned down
    to its bucket. At most one breakdown (agency_code, channel, service_level, method)
    among those the KPI lists; breakdowns are province-wide (not with area=)."""
    kpi = _kpi(kpi_id)
    scope = _scope(state, area)
    sensor = _sensor_scope(kpi, scope, station_id, metric)
    dim, dim_value = _breakdown(kpi, {"agency_code": agency_code, "channel": channel,
                                      "service_level": service_level, "method": method})
    if dim and area is not None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY,
                            f"breakdowns are province-wide: give area= (or district=) or {dim}=, not both")
    offset = state.geography.utc_offset
    end = end or state.clock.now()
    start = start or end - DEFAULT_WINDOW[bucket]
    if start >= end:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "start must be before end")
    first, _last = bucket_range(start, end, bucket, offset)
    if (end - first).total_seconds() / bucket.seconds > MAX_POINTS:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY,
                            f"range too long: at most {MAX_POINTS} buckets of {bucket.value}")
    if kpi.kind is Kind.GAUGE:
        samples = gauge_instants(first, end, state.clock.now(), bucket)
        if len(samples) > MAX_GAUGE_SAMPLES:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY,
                                f"range too long for a gauge: at most {MAX_GAUGE_SAMPLES} samples")
        async with state.pool.connection() as conn:
            values = await gauges.gauge_samples(conn, kpi.id, [at for _, at in samples], area,
                                                state.settings.station_silence)
        return {"kpi": kpi.id, "bucket": bucket.value, "area": area, "district": area,
                "points": [{"start": local_iso(s, offset), "at": local_iso(at, offset),
                            "value": values.get(at, 0)} for s, at in samples]}
    if sensor is not None:
        async with state.pool.connection() as conn:
            cells = await sensor_cells.sensor_series(
                conn, bucket=bucket, metric=sensor.metric, area=sensor.area,
                station_id=sensor.station_id, start=first, end=end)
        return {"kpi": kpi.id, "bucket": bucket.value, "area": area, "district": area,
                "station_id": station_id, "metric": metric,
                "points": [_sensor_point(kpi, start, agg, offset) for start, agg in cells]}
    if kpi.kind is Kind.INDEX:
        async with state.pool.connection() as conn:
            rows = await kpi_reads.indicator_series(conn, bucket=bucket, area=scope, start=first,
                                                    end=end, dim=dim, dim_value=dim_value)
        points = index_points(kpi, rows, bucket.value, offset)
    else:
        async with state.pool.connection() as conn:
            rows = await kpi_reads.series(conn, kpi=kpi.id, bucket=bucket, area=scope,
                                          start=first, end=end, dim=dim, dim_value=dim_value)
        points = [point(kpi, row, offset) for row in rows]
    body: dict[str, Any] = {"kpi": kpi.id, "bucket": bucket.value, "area": area, "district": area,
                            "points": points}
    if dim:
        body["breakdown"] = {dim: dim_value}
    return body


@router.get("/{kpi_id}/current", response_model=Current, response_model_exclude_unset=True,
            responses=_UNKNOWN)
async def current(
    kpi_id: str, state: State, _: Reader,
    area: AreaParam = None,
    station_id: Annotated[Text | None, Query(description="sensor KPIs: one station")] = None,
    metric: Annotated[Text | None, Query(description="sensor KPIs: required, e.g. pm2_5")] = None,
) -> dict[str, Any]:
    """Today's (local day) value so far."""
    kpi = _kpi(kpi_id)
    scope = _scope(state, area)
    sensor = _sensor_scope(kpi, scope, station_id, metric)
    now = state.clock.now()
    offset = state.geography.utc_offset
    day = bucket_start(now, Bucket.DAY, offset)
    if kpi.kind is Kind.GAUGE:
        async with state.pool.connection() as conn:
            values = await gauges.gauge_samples(conn, kpi.id, [now], area,
                                                state.settings.station_silence)
        return {"kpi": kpi.id, "area": area, "district": area, "value": values.get(now, 0),
                "as_of": local_iso(now, offset)}
    if sensor is not None:
        async with state.pool.connection() as conn:
            cells = await sensor_cells.sensor_series(
                conn, bucket=Bucket.DAY, metric=sensor.metric, area=sensor.area,
                station_id=sensor.station_id, start=day, end=day + timedelta(days=1))
        found = _sensor_point(kpi, day, cells[0][1] if cells else None, offset)
        return {"kpi": kpi.id, "area": area, "district": area, "station_id": station_id, "metric": metric,
                "value": found["value"], "readings": found["readings"],
                "as_of": local_iso(now, offset)}
    if kpi.kind is Kind.INDEX:
        async with state.pool.connection() as conn:
            rows = await kpi_reads.indicator_series(conn, bucket=Bucket.DAY, area=scope, start=day,
                                                    end=day + timedelta(days=1))
        points = index_points(kpi, rows, Bucket.DAY.value, offset)
        return {"kpi": kpi.id, "area": area, "district": area,
                "value": points[0]["value"] if points else None, "as_of": local_iso(now, offset)}
    async with state.pool.connection() as conn:
        rows = await kpi_reads.series(conn, kpi=kpi.id, bucket=Bucket.DAY, area=scope,
                                      start=day, end=day + timedelta(days=1))
    value, num, den = day_value(kpi, rows[0] if rows else None)
    out: dict[str, Any] = {"kpi": kpi.id, "area": area, "district": area, "value": value,
                           "as_of": local_iso(now, state.geography.utc_offset)}
    if kpi.kind.value == "ratio":
        out.update(numerator=num, denominator=den)
    return out


