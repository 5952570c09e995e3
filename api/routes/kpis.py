"""``/api/v1/kpis``: the catalogue, series and today's value."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import AwareDatetime, BaseModel

from api.deps import Reader, State
from api.views import day_value, point
from ioc.changes import local_iso
from ioc.kpis.buckets import Bucket, bucket_range, bucket_start
from ioc.kpis.catalogue import BY_ID, CATALOGUE, KpiDef
from ioc.kpis.counters import PROVINCE
from ioc.storage import kpi_reads

router = APIRouter(prefix="/api/v1/kpis", tags=["kpis"])

DEFAULT_WINDOW = {Bucket.MINUTE: timedelta(hours=2), Bucket.HOUR: timedelta(days=2),
                  Bucket.DAY: timedelta(days=31)}
MAX_POINTS = 20_000


class KpiInfo(BaseModel):
    id: str
    name: dict[str, str]
    unit: str
    kind: str
    dimensions: list[str]


class Point(BaseModel):
    start: str
    value: float | int | None
    numerator: int | None = None
    denominator: int | None = None


class Series(BaseModel):
    kpi: str
    bucket: str
    district: str | None
    points: list[Point]


class Current(BaseModel):
    kpi: str
    district: str | None
    value: float | int | None
    numerator: int | None = None
    denominator: int | None = None
    as_of: str


def _kpi(kpi_id: str) -> KpiDef:
    kpi = BY_ID.get(kpi_id)
    if kpi is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown KPI '{kpi_id}'")
    return kpi


def _scope(state: State, district: str | None) -> str:
    if district is None:
        return PROVINCE
    if district not in state.reference.district_codes:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY,
                            f"unknown district code '{district}'")
    return district


@router.get("", response_model=list[KpiInfo])
async def catalogue(_: Reader) -> list[KpiInfo]:
    return [KpiInfo(id=k.id, name={"vi": k.name_vi, "en": k.name_en}, unit=k.unit,
                    kind=k.kind.value, dimensions=["district", *k.dimensions]) for k in CATALOGUE]


@router.get("/{kpi_id}/series", response_model=Series, response_model_exclude_unset=True)
async def series(
    kpi_id: str, state: State, _: Reader,
    bucket: Annotated[Bucket, Query(description="1m, 1h or 1d (local days, UTC+07:00)")] = Bucket.MINUTE,
    start: Annotated[AwareDatetime | None,
                     Query(description="RFC 3339; default: a window before end")] = None,
    end: Annotated[AwareDatetime | None, Query(description="RFC 3339, exclusive; default: now")] = None,
    district: Annotated[str | None, Query(description="district code; omit for the province")] = None,
) -> dict[str, Any]:
    """One point per bucket with data whose start lies in [start, end), start aligned down
    to its bucket."""
    kpi = _kpi(kpi_id)
    scope = _scope(state, district)
    offset = state.reference.utc_offset
    end = end or state.clock.now()
    start = start or end - DEFAULT_WINDOW[bucket]
    if start >= end:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "start must be before end")
    first, _last = bucket_range(start, end, bucket, offset)
    if (end - first).total_seconds() / bucket.seconds > MAX_POINTS:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY,
                            f"range too long: at most {MAX_POINTS} buckets of {bucket.value}")
    async with state.pool.connection() as conn:
        rows = await kpi_reads.series(conn, kpi=kpi.id, bucket=bucket, district=scope,
                                      start=first, end=end)
    return {"kpi": kpi.id, "bucket": bucket.value, "district": district,
            "points": [point(kpi, row, offset) for row in rows]}


@router.get("/{kpi_id}/current", response_model=Current, response_model_exclude_unset=True)
async def current(
    kpi_id: str, state: State, _: Reader,
    district: Annotated[str | None, Query(description="district code; omit for the province")] = None,
) -> dict[str, Any]:
    """Today's (local day) value so far."""
    kpi = _kpi(kpi_id)
    scope = _scope(state, district)
    now = state.clock.now()
    day = bucket_start(now, Bucket.DAY, state.reference.utc_offset)
    async with state.pool.connection() as conn:
        rows = await kpi_reads.series(conn, kpi=kpi.id, bucket=Bucket.DAY, district=scope,
                                      start=day, end=day + timedelta(days=1))
    value, num, den = day_value(kpi, rows[0] if rows else None)
    out: dict[str, Any] = {"kpi": kpi.id, "district": district, "value": value,
                           "as_of": local_iso(now, state.reference.utc_offset)}
    if kpi.kind.value == "ratio":
        out.update(numerator=num, denominator=den)
    return out


