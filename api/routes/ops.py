"""Operations: liveness, readiness, Prometheus metrics, reference data."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

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


@router.get("/api/v1/districts", tags=["reference"])
async def districts(state: State, _: Reader) -> list[dict[str, str]]:
    """The deployment's districts (code and name)."""
    return [{"code": d.code, "name": d.name} for d in state.reference.districts]
