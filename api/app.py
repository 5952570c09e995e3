"""The FastAPI application, built from settings."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from psycopg_pool import AsyncConnectionPool

from api.auth import TokenCache
from api.change_consumer import ChangeConsumer
from api.fanout import Hub
from api.limits import (
    DATA_ERRORS,
    BodyDeadline,
    data_error,
    document_common_statuses,
    validation_error,
)
from api.loop_lag import watch_loop_lag
from api.producer import EventProducer
from api.routes import (
    agencies,
    alerts,
    deadletters,
    drilldown,
    ingest,
    keys,
    kpis,
    live_feed,
    ops,
    reports,
    scorecard,
)
from api.state import AppState
from dashboards import console_dir, wall_dir
from ioc import package_version
from ioc.clock import Clock, SystemClock
from ioc.events import rules_of
from ioc.geography import geography_of
from ioc.geography.agencies import agencies_of
from ioc.settings import Settings
from ioc.targets import targets_of

WALL_DIR = wall_dir()  # package data: served from the installed package, any working directory
CONSOLE_DIR = console_dir()


def create_app(settings: Settings, clock: Clock | None = None) -> FastAPI:
    geography = geography_of(settings)
    agencies_of(settings)  # a broken agencies or targets file fails here, not on a request
    targets_of(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = AsyncConnectionPool(settings.database_url, min_size=1, max_size=10, open=False,
                                   kwargs={"autocommit": True})
        await pool.open(wait=True, timeout=30)
        hub = Hub()
        change_feed = ChangeConsumer(settings.kafka_bootstrap, settings.changes_topic, hub,
                                     fetch_max_wait_ms=settings.feed_fetch_max_wait_ms)
        await change_feed.start()
        producer = EventProducer(settings.kafka_bootstrap, settings.events_topic,
                                 timeout_s=settings.ingest_ack_timeout_s)
        await producer.start()
        # Thousands of long-lived objects per connected screen make the collector's full
        # passes long pauses on the feed: keep start-up objects out of them, collect young
        # objects less often.
        gc.freeze()
        gc.set_threshold(50_000, 50, 100)
        app.state.ioc = AppState(settings, geography, clock or SystemClock(), pool,
                                 TokenCache(pool), hub, change_feed, producer, rules_of(settings, geography))
        lag = asyncio.create_task(watch_loop_lag(), name="loop-lag")
        try:
            yield
        finally:
            lag.cancel()
            await producer.stop()
            await change_feed.stop()
            await pool.close()

    app = FastAPI(
        title="IOC streaming backend",
        version=package_version(),
        description="Live KPIs of the province's public services: reads, live feed, operations.",
        lifespan=lifespan,
    )
    app.add_middleware(BodyDeadline, timeout_s=settings.api_body_timeout_s)
    build_openapi = app.openapi
    app.openapi = lambda: (app.openapi_schema if app.openapi_schema is not None  # type: ignore[method-assign]
                           else document_common_statuses(build_openapi()))
    for error in DATA_ERRORS:
        app.add_exception_handler(error, data_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.include_router(ingest.router)
    app.include_router(agencies.router)
    app.include_router(alerts.router)
    app.include_router(deadletters.router)
    app.include_router(drilldown.router)
    app.include_router(keys.router)
    app.include_router(kpis.router)
    app.include_router(live_feed.router)
    app.include_router(ops.router)
    app.include_router(reports.router)
    app.include_router(scorecard.router)

    @app.get("/wall", include_in_schema=False)
    async def wall() -> FileResponse:
        return FileResponse(WALL_DIR / "index.html", media_type="text/html; charset=utf-8")

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/wall")

    @app.get("/console", include_in_schema=False)
    async def console() -> FileResponse:
        return FileResponse(CONSOLE_DIR / "index.html", media_type="text/html; charset=utf-8")

    app.mount("/wall/static", StaticFiles(directory=WALL_DIR), name="wall-static")
    app.mount("/console/static", StaticFiles(directory=CONSOLE_DIR), name="console-static")
    return app
