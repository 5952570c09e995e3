"""Operations: liveness, readiness, Prometheus metrics, the geography."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

from api.deps import Reader, State
from ioc.storage import heartbeats

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "broker or database unreachable"}})
async def readyz(state: State) -> JSONResponse:
    """Broker and database reachable; also reports the stream workers' last heartbeat."""
    checks: dict[str, Any] = {"database": False, "broker": False, "workers": []}
    try:
        async with state.pool.connection(timeout=2) as conn:
            await conn.execute("SELECT 1")
            checks["workers"] = [{"worker": w, "seconds_since_heartbeat": round(age, 1)}
                                 for w, age in await heartbeats.ages(conn)]
        checks["database"] = True
    except Exception as exc:  # any failure means not ready
        checks["database_error"] = str(exc)
    checks["broker"] = await state.feed.broker_reachable()
    ready = checks["database"] and checks["broker"]
    return JSONResponse({"status": "ready" if ready else "not ready", **checks},
                        status_code=200 if ready else 503)


@router.get("/metrics", response_class=Response)
async def metrics() -> Response:
    """Prometheus text format."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


class Named(BaseModel):
    code: str
    name: str


class Area(Named):
    kind: str = Field(description="xã, phường or đặc khu; in the historic profile huyện, thị xã "
                                  "or thành phố")


class Areas(BaseModel):
    province: Named
    profile: str = Field(description="'province-NN' from the vietnam-provinces package, "
                                     "'hai-duong-2024', or the stem of IOC_GEOGRAPHY_FILE")
    areas: list[Area]


@router.get("/api/v1/areas", tags=["reference"], response_model=Areas)
async def areas(state: State, _: Reader) -> Areas:
    """The deployment's geography: its province and every unit KPIs are kept for
    (docs/contract/geography.md), in the order of their official codes."""
    geo = state.geography
    return Areas(province=Named(code=geo.province_code, name=geo.province_name),
                 profile=geo.profile,
                 areas=[Area(code=u.code, name=u.name, kind=u.kind) for u in geo.units])


@router.get("/api/v1/districts", tags=["reference"], deprecated=True)
async def districts(state: State, _: Reader) -> list[dict[str, str]]:
    """v1: the units as a bare list of code and name; use /api/v1/areas."""
    return [{"code": u.code, "name": u.name} for u in state.geography.units]
