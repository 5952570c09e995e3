"""``POST /api/v1/events``: integrators push CloudEvents (docs/contract/api.md, "Ingest")."""

from __future__ import annotations

from collections import Counter as Tally
from contextlib import AsyncExitStack
from datetime import datetime
from functools import partial
from typing import Any

import psycopg
from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from prometheus_client import Counter, Histogram
from psycopg_pool import PoolTimeout
from pydantic import BaseModel

from api.deps import Integrator, State
from api.durable import NotSafe, publish_durably
from api.state import AppState
from ioc import http_limits
from ioc.deadletters import HTTP, DeadLetter, of_http
from ioc.events import Envelope
from ioc.ingest import MAX_BYTES, Body, BodyError, Judged, judge_events, parse_body
from ioc.source_labels import configured_sources, source_label
from ioc.storage import deadletters

router = APIRouter(tags=["ingest"])

INGEST_EVENTS = Counter("ioc_ingest_events_total",
                        "Events received over HTTP, by source (the key's bound sources and the "
                        "connectors'; the rest as other), outcome and reason",
                        ["source", "outcome", "reason"])
INGEST_REQUESTS = Counter("ioc_ingest_requests_total", "Ingest requests by status", ["status"])
INGEST_SECONDS = Histogram("ioc_ingest_request_seconds", "Ingest request time, body read to ack",
                           buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10))


class RejectedEvent(BaseModel):
    index: int
    id: str | None
    reason: str


class IngestResult(BaseModel):
    accepted: int
    """Events durably in Kafka; duplicates among them are recognised by the stream worker."""
    rejected: list[RejectedEvent]


def _refuse(code: int, reason: str) -> HTTPException:
    INGEST_REQUESTS.labels(str(code)).inc()
    return HTTPException(code, reason)


async def read_bounded(request: Request, limit: int, timeout_s: float) -> bytes:
    """The body: 413 when it is declared or found over ``limit`` bytes (a bounded excess is
    read and dropped so the client sees the answer, not a reset), 408 when it is not
    complete within ``timeout_s``; either closes the connection."""
    try:
        return await http_limits.read_bounded(request.stream(), request.headers.get("content-length"),
                                              limit, timeout_s)
    except http_limits.BodyRefused as exc:
        INGEST_REQUESTS.labels(str(exc.status)).inc()
        raise HTTPException(exc.status, exc.reason, headers={"Connection": "close"}) from None


async def _publish(state: AppState, judged: Judged, received_at: datetime) -> None:
    try:
        await publish_durably(
            state.producer, state.pool if state.settings.intake_journal else None,
            state.settings.events_topic,
            [(p.event.dedup_key, p.key, p.value) for p in judged.publish], received_at)
    except NotSafe as exc:
        raise _refuse(503, f"{exc}; nothing was accepted, retry the request") from None


def _known(configured: frozenset[str], bound: tuple[str, ...] | None) -> frozenset[str]:
    """The sources counted under their own label: the connectors' configured ones and those
    the calling key is bound to (a key bound to none publishes under "other")."""
    return configured | frozenset(bound or ())


EVENT_SCHEMA: dict[str, Any] = {**Envelope.model_json_schema(), "title": "CloudEvent",
                                 "description": "CloudEvents 1.0, structured JSON (docs/contract/events.md)"}
_BODY_DOC: dict[str, Any] = {
    "required": True,
    "content": {
        media: {"schema": {"oneOf": [EVENT_SCHEMA,
                                     {"type": "array", "minItems": 1, "maxItems": 1000,
                                      "items": EVENT_SCHEMA}]}}
        for media in ("application/json", "application/cloudevents+json",
                      "application/cloudevents-batch+json")
    },
}


@router.post(
    "/api/v1/events", status_code=202, response_model=IngestResult,
    openapi_extra={"requestBody": _BODY_DOC},
    responses={
        400: {"description": "the body is not UTF-8 JSON, or not an event or array of events, or "
                             "nested too deeply to read (a fault inside one event, e.g. a "
                             "duplicate member name, rejects that event alone)"},
        401: {"description": "no valid key"},
        403: {"description": "not an integrator key, or the key may not publish for a source "
                             "in the body (nothing is published)"},
        408: {"description": "the body was not complete within IOC_API_BODY_TIMEOUT_S"},
        413: {"description": "over 1 MiB or 1,000 events"},
        415: {"description": "unsupported content type"},
        503: {"description": "the broker did not take the events, or (embedded default) the "
                             "intake journal could not keep them, or the dead-letter store "
                             "could not keep the rejected ones; retry the whole request "
                             "(duplicates are ignored)"},
    },
)
async def ingest(request: Request, state: State,
                 integrator: Integrator) -> IngestResult:
    """One CloudEvent or a batch of up to 1,000 (1 MiB). Answers 202 once every accepted
    event is acknowledged by the broker and every rejected one is in the dead-letter store;
    each rejected event is listed with its reason."""
    received_at = state.clock.now()  # the time limits are judged against entry (docs/contract/events.md)
    with INGEST_SECONDS.time():
        body = await read_bounded(request, MAX_BYTES, state.settings.api_body_timeout_s)
        # Parsing and judging a 1 MiB batch takes tens of milliseconds of CPU: done in a
        # worker thread, so the event loop (the feed, other requests) is not held that long.
        try:
            items = await run_in_threadpool(parse_body, body, request.headers.get("content-type"))
        except BodyError as exc:
            raise _refuse(exc.status, exc.reason) from None
        answer = await take_events(state, items, body, received_at, integrator.sources)
    INGEST_REQUESTS.labels("202").inc()
    return answer


async def take_events(state: AppState, items: Body, raw: bytes, received_at: datetime,
                      allowed_sources: tuple[str, ...] | None, *, origin: str = HTTP,
                      replaying: int | None = None, whole: bool = False) -> IngestResult:
    """Judge parsed events, publish the valid ones durably, keep the rejected ones in the
    dead-letter store, count them: what ``POST /api/v1/events`` and a dead letter's replay
    (``replaying``: its id, marked replayed with the new dead letters) both do. ``raw`` is
    the body the events were parsed from (each dead letter keeps its own text of it, or all
    of it when ``whole``).

    Raises 403 (a source the key may not publish for) or 503 (nothing acknowledged: the
    broker, the intake journal or the dead-letter store is down; the caller retries, a
    dead letter already waiting is not stored twice). The dead letters are written before
    anything is published, so a store that is down publishes nothing; a replay's are
    written, and its dead letter marked, in a transaction that commits only once the
    broker acknowledged (a failed send leaves the dead letter waiting)."""
    judged = await run_in_threadpool(judge_events, items, state.rules, received_at, allowed_sources)
    if judged.forbidden_sources:
        names = ", ".join(sorted(judged.forbidden_sources))
        raise _refuse(403, f"this key may not publish for source(s): {names}")
    letters = (await run_in_threadpool(partial(of_http, raw, judged, received_at, origin, whole=whole))
               if judged.rejected else [])
    stored: list[DeadLetter] = []
    try:
        async with AsyncExitStack() as held:
            if letters or replaying is not None:
                conn = await held.enter_async_context(state.pool.connection(timeout=5))
                await held.enter_async_context(conn.transaction())
                if replaying is not None:
                    await deadletters.mark_replayed(conn, replaying, state.clock.now())
                stored = await deadletters.store(conn, letters, state.clock.now())
                if replaying is None:
                    await held.aclose()  # committed before publishing
                    deadletters.count(stored)  # counted once stored, even if publishing fails
                    stored = []
            await _publish(state, judged, received_at)
    except (psycopg.Error, PoolTimeout) as exc:
        raise _refuse(503, f"the dead-letter store is unavailable ({type(exc).__name__}); "
                           "retry the request") from None
    deadletters.count(stored)  # a replay's: committed only after the broker's ack
    known = _known(configured_sources(state.settings), allowed_sources)
    tally = Tally((source_label(p.event.source, known), "accepted", "") for p in judged.publish)
    tally.update((source_label(r.source, known), "rejected", r.code) for r in judged.rejected)
    for (source, outcome, reason), n in tally.items():
        INGEST_EVENTS.labels(source, outcome, reason).inc(n)
    return IngestResult(accepted=len(judged.publish),
                        rejected=[RejectedEvent(index=r.index, id=r.id, reason=f"{r.code}: {r.reason}")
                                  for r in judged.rejected])
