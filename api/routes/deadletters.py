"""The dead-letter store: ``GET /api/v1/deadletters``, ``POST /api/v1/deadletters/{id}/replay``
(docs/contract/api.md, "Dead letters"). A replay goes through ingest's own path
(:func:`api.routes.ingest.take_events`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from api.deps import Admin, Responder, State
from api.params import RowId, Text
from api.routes.ingest import EVENT_SCHEMA, IngestResult, read_bounded, take_events
from ioc.changes import local_iso
from ioc.deadletters import REPLAY, Listed, replay_body
from ioc.ingest import MAX_BYTES, SINGLE_TYPES, Body, BodyError, media_type, parse_body
from ioc.storage import deadletters

router = APIRouter(tags=["dead letters"])


class DeadLetter(BaseModel):
    id: int = Field(description="the dead letter's own id")
    event_id: str | None = Field(description="the event's id; null when it could not be read")
    reason: str = Field(description="the reason code (docs/contract/events.md)")
    detail: str
    source: str | None = Field(description="the event's source; null when unknown")
    received_at: str = Field(description="when the event entered the system")
    body: str = Field(description="the event's own original text (one element of a batch), "
                                  "or the whole record when it could not be read")
    replayed_at: str | None


class DeadLetters(BaseModel):
    total: int = Field(description="dead letters matching the filters, on every page")
    deadletters: list[DeadLetter] = Field(description="newest first")


def _shaped(letter: Listed, state: State) -> DeadLetter:
    offset = state.geography.utc_offset
    return DeadLetter(id=letter.id, event_id=letter.event_id, reason=letter.reason,
                      detail=letter.detail, source=letter.source,
                      received_at=local_iso(letter.received_at, offset), body=letter.body,
                      replayed_at=(local_iso(letter.replayed_at, offset)
                                   if letter.replayed_at is not None else None))


@router.get("/api/v1/deadletters", response_model=DeadLetters)
async def list_deadletters(
    state: State, _: Responder,
    reason: Text | None = None,
    source: Text | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> DeadLetters:
    """Every rejected event (HTTP ingest, the stream worker, the connectors), newest first,
    kept for at least the lateness limit."""
    async with state.pool.connection() as conn:
        total, rows = await deadletters.page(conn, reason, source, limit, offset)
    return DeadLetters(total=total, deadletters=[_shaped(r, state) for r in rows])


_REPLAY_BODY: dict[str, Any] = {
    "required": False,
    "content": {media: {"schema": EVENT_SCHEMA}
                for media in ("application/json", "application/cloudevents+json")},
}


@router.post(
    "/api/v1/deadletters/{letter_id}/replay", status_code=202, response_model=IngestResult,
    openapi_extra={"requestBody": _REPLAY_BODY},
    responses={
        400: {"description": "the body is not one CloudEvent as JSON"},
        404: {"description": "no such dead letter"},
        413: {"description": "over 1 MiB"},
        415: {"description": "unsupported content type"},
        503: {"description": "the broker, the intake journal or the dead-letter store is "
                             "unavailable; retry (duplicates are ignored)"},
    },
)
async def replay(letter_id: RowId, request: Request, state: State, _: Admin) -> IngestResult:
    """Send the dead letter's original again (empty body) or the corrected CloudEvent given
    as the body, through the same validation and publishing as ``POST /api/v1/events``; the
    dead letter is marked replayed, and a new rejection is a new dead letter."""
    received_at = state.clock.now()
    body = await read_bounded(request, MAX_BYTES, state.settings.api_body_timeout_s)
    async with state.pool.connection() as conn:
        original = await deadletters.body_of(conn, letter_id)
    if original is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no dead letter {letter_id}")
    if body.strip():
        kind = media_type(request.headers.get("content-type"))
        if kind not in SINGLE_TYPES | {"application/json"}:
            raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                                f"send one CloudEvent as application/json or "
                                f"application/cloudevents+json, not '{kind}'")
        try:
            items: Body = await run_in_threadpool(parse_body, body, "application/cloudevents+json")
        except BodyError as exc:
            raise HTTPException(exc.status, exc.reason) from None
        raw = body
    else:
        items, raw = replay_body(original), original
    return await take_events(state, items, raw, received_at, None, origin=REPLAY,
                             replaying=letter_id, whole=True)
