"""``POST /api/v1/events``: integrators push CloudEvents (docs/contract/api.md, "Ingest")."""

from __future__ import annotations

from collections import Counter as Tally
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from prometheus_client import Counter, Histogram
from pydantic import BaseModel

from api.deps import Integrator, State
from api.durable import NotSafe, publish_durably
from ioc import http_limits
from ioc.events import Envelope
from ioc.ingest import MAX_BYTES, BodyError, judge_events, parse_body
from ioc.source_labels import configured_sources, source_label

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


def _known(configured: frozenset[str], bound: tuple[str, ...] | None) -> frozenset[str]:
    """The sources counted under their own label: the connectors' configured ones and those
    the calling key is bound to (a key bound to none publishes under "other")."""
    return configured | frozenset(bound or ())


_EVENT_SCHEMA: dict[str, Any] = {**Envelope.model_json_schema(), "title": "CloudEvent",
                                 "description": "CloudEvents 1.0, structured JSON (docs/contract/events.md)"}
_BODY_DOC: dict[str, Any] = {
    "required": True,
    "content": {
        media: {"schema": {"oneOf": [_EVENT_SCHEMA,
                                     {"type": "array", "minItems": 1, "maxItems": 1000,
                                      "items": _EVENT_SCHEMA}]}}
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
                             "intake journal could not keep them; retry the whole request "
                             "(duplicates are ignored)"},
    },
)
async def ingest(request: Request, state: State,
                 integrator: Integrator) -> IngestResult:
    """One CloudEvent or a batch of up to 1,000 (1 MiB). Answers 202 once every accepted
    event is acknowledged by the broker; each rejected event is listed with its reason."""
    received_at = state.clock.now()  # the time limits are judged against entry (docs/contract/events.md)
    with INGEST_SECONDS.time():
        body = await read_bounded(request, MAX_BYTES, state.settings.api_body_timeout_s)
        # Parsing and judging a 1 MiB batch takes tens of milliseconds of CPU: done in a
        # worker thread, so the event loop (the feed, other requests) is not held that long.
        try:
            items = await run_in_threadpool(parse_body, body, request.headers.get("content-type"))
        except BodyError as exc:
            raise _refuse(exc.status, exc.reason) from None
        judged = await run_in_threadpool(judge_events, items, state.rules, received_at,
                                         integrator.sources)
        if judged.forbidden_sources:
            names = ", ".join(sorted(judged.forbidden_sources))
            raise _refuse(403, f"this key may not publish for source(s): {names}")
        try:
            await publish_durably(
                state.producer, state.pool if state.settings.intake_journal else None,
                state.settings.events_topic,
                [(p.event.dedup_key, p.key, p.value) for p in judged.publish], received_at)
        except NotSafe as exc:
            raise _refuse(503, f"{exc}; nothing was accepted, retry the request") from None
    known = _known(configured_sources(state.settings), integrator.sources)
    tally = Tally((source_label(p.event.source, known), "accepted", "") for p in judged.publish)
    tally.update((source_label(r.source, known), "rejected", r.code) for r in judged.rejected)
    for (source, outcome, reason), n in tally.items():
        INGEST_EVENTS.labels(source, outcome, reason).inc(n)
    INGEST_REQUESTS.labels("202").inc()
    return IngestResult(accepted=len(judged.publish),
                        rejected=[RejectedEvent(index=r.index, id=r.id, reason=f"{r.code}: {r.reason}")
                                  for r in judged.rejected])
