"""``/api/v1/dossiers`` and ``/api/v1/feedback``: the items behind the gauges
(docs/contract/api.md), at an instant, most overdue first, paged."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field

from api.deps import Reader, State
from api.params import Instant, Text, given_area
from api.state import AppState
from ioc.changes import local_iso
from ioc.storage.dossier_state import Item, Kind, items_at

router = APIRouter(tags=["drill-down"])

MAX_LIMIT = 1000


class DossierOut(BaseModel):
    dossier_id: str
    service_code: str | None = Field(description="null for a dossier stored before v2 kept it")
    agency_code: str | None = Field(description="null for a dossier stored before v2 kept it")
    area: str
    received_at: str
    due_at: str


class Dossiers(BaseModel):
    as_of: str
    total: int
    dossiers: list[DossierOut]


class FeedbackOut(BaseModel):
    feedback_id: str
    agency_code: str | None
    area: str
    received_at: str
    due_at: str


class FeedbackList(BaseModel):
    as_of: str
    total: int
    feedback: list[FeedbackOut]


Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"page size, at most {MAX_LIMIT}")]
Offset = Annotated[int, Query(ge=0, le=10_000_000, description="items to skip")]
At = Annotated[Instant | None, Query(description="RFC 3339 instant; default: now")]
Area = Annotated[Text | None, Query(description="a unit's code; omit: the province")]
Agency = Annotated[Text | None, Query(description="an agency_code (GET /api/v1/agencies)")]


async def _page(state: AppState, kind: Kind, which: Literal["open", "overdue", "due_soon"],
                at: Instant | None, area: str | None, district: str | None,
                agency_code: str | None, limit: int, offset: int) -> tuple[str, int, list[Item]]:
    given = given_area(area, district)
    code = None
    if given is not None:
        code = state.geography.canonical(given)
        if code is None:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY,
                                f"unknown area code '{given}' (GET /api/v1/areas lists them)")
    t = at or state.clock.now()
    async with state.pool.connection() as conn:
        total, items = await items_at(conn, kind, which, t, area=code, agency_code=agency_code,
                                      limit=limit, offset=offset)
    return local_iso(t, state.geography.utc_offset), total, items


@router.get("/api/v1/dossiers", response_model=Dossiers)
async def dossiers(
    state: State, _: Reader,
    state_: Annotated[Literal["open", "overdue", "due_soon"], Query(
        alias="state", description="open; overdue (open, due before the instant); due_soon "
                                   "(open, due within the next 24 h)")] = "open",
    area: Area = None,
    district: Annotated[Text | None, Query(description="the v1 name of area")] = None,
    agency_code: Agency = None, at: At = None, limit: Limit = 100, offset: Offset = 0,
) -> Dossiers:
    """The dossiers behind dossier.open, dossier.overdue_open and dossier.due_soon at
    instant ``at``, exactly as the gauges count them: earliest due date first, then
    dossier_id."""
    as_of, total, items = await _page(state, "dossier", state_, at, area, district, agency_code,
                                      limit, offset)
    offset_tz = state.geography.utc_offset
    return Dossiers(as_of=as_of, total=total, dossiers=[
        DossierOut(dossier_id=i.item_id, service_code=i.service_code, agency_code=i.agency_code,
                   area=i.area, received_at=local_iso(i.received_at, offset_tz),
                   due_at=local_iso(i.due_at, offset_tz)) for i in items])


@router.get("/api/v1/feedback", response_model=FeedbackList)
async def feedback(
    state: State, _: Reader,
    state_: Annotated[Literal["open", "overdue"], Query(
        alias="state", description="open; overdue (open, due before the instant)")] = "open",
    area: Area = None,
    district: Annotated[Text | None, Query(description="the v1 name of area")] = None,
    agency_code: Agency = None, at: At = None, limit: Limit = 100, offset: Offset = 0,
) -> FeedbackList:
    """The citizen feedback behind feedback.open and feedback.overdue_open at instant
    ``at``: earliest due date first, then feedback_id."""
    as_of, total, items = await _page(state, "feedback", state_, at, area, district, agency_code,
                                      limit, offset)
    offset_tz = state.geography.utc_offset
    return FeedbackList(as_of=as_of, total=total, feedback=[
        FeedbackOut(feedback_id=i.item_id, agency_code=i.agency_code, area=i.area,
                    received_at=local_iso(i.received_at, offset_tz),
                    due_at=local_iso(i.due_at, offset_tz)) for i in items])
