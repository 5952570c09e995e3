"""``/api/v1/scorecard``: the service index (docs/contract/kpis.md) of every province, area
or agency with data, ranked, per day or calendar month; and one scope's days."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field

from api.deps import Reader, State
from api.params import Text
from api.state import AppState
from ioc.changes import local_iso
from ioc.geography.agencies import load_agencies
from ioc.kpis.service_index import GROUPS, Score, as_float, score
from ioc.scorecard import By, PeriodKind, ScorePeriod, period_of, scorecard
from ioc.storage.scorecard_reads import daily_indicator_sums, indicator_sums

router = APIRouter(tags=["scorecard"])


class Groups(BaseModel):
    transparency: float | None
    progress: float | None
    digitisation: float | None
    online_service: float | None
    satisfaction: float | None


class ScoreRowOut(BaseModel):
    scope: str = Field(description='"" for the province, else an area\'s or an agency\'s code')
    name: str
    rank: int = Field(description="1-based position by the exact index, highest first, ties by code")
    index: float | None = Field(description="0..100, the double nearest the exact value")
    groups: Groups = Field(description="each group's points on the same scale (null: no data)")


class Scorecard(BaseModel):
    period: PeriodKind
    start: str = Field(description="the period's first local date, YYYY-MM-DD")
    by: By
    rows: list[ScoreRowOut]


class DayScore(BaseModel):
    start: str = Field(description="the local date, YYYY-MM-DD")
    index: float | None
    groups: Groups


class ScopeDays(BaseModel):
    by: By
    scope: str
    name: str
    month: str
    days: list[DayScore] = Field(description="the month's days with data, in order")


def _groups(s: Score) -> Groups:
    return Groups(**{g: as_float(s.groups[g]) for g in GROUPS})


def _namer(state: AppState, by: By) -> dict[str, str] | None:
    if by == "province":
        return {"": state.geography.province_name}
    if by == "area":
        return state.geography.area_names
    return None


def _name(state: AppState, by: By, scope: str) -> str:
    names = _namer(state, by)
    if names is not None:
        return names.get(scope, scope)
    return load_agencies(state.geography, state.settings.agencies_file).name(scope)


def _period(state: AppState, kind: PeriodKind, on: str | None) -> ScorePeriod:
    try:
        return period_of(kind, on, state.clock.now(), state.geography.utc_offset)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, str(exc)) from None


@router.get("/api/v1/scorecard", response_model=Scorecard)
async def get_scorecard(
    state: State, _: Reader,
    period: Annotated[PeriodKind, Query(description="day or month (local time, UTC+07:00)")] = "day",
    on: Annotated[Text | None, Query(
        description="YYYY-MM-DD for a day, YYYY-MM for a month; default: the current one so far")] = None,
    by: Annotated[By, Query(description="province, area or agency")] = "area",
) -> Scorecard:
    """The service index and its five groups' points of every scope with data in the
    period, ranked (highest first, ties by code). Exact: summed numerators and denominators
    of the period's days, combined as rationals."""
    chosen = _period(state, period, on)
    async with state.pool.connection() as conn:
        sums = await indicator_sums(conn, by, chosen.start, chosen.end)
    rows = scorecard(sums, lambda scope: _name(state, by, scope))
    return Scorecard(period=period, start=chosen.first.isoformat(), by=by, rows=[
        ScoreRowOut(scope=r.scope, name=r.name, rank=r.rank, index=as_float(r.score.index),
                    groups=_groups(r.score)) for r in rows])


@router.get("/api/v1/scorecard/days", response_model=ScopeDays,
            responses={422: {"description": "a bad month, or an unknown area"}})
async def scope_days(
    state: State, _: Reader,
    month: Annotated[Text | None, Query(description="YYYY-MM; default: the current month")] = None,
    by: Annotated[By, Query(description="province, area or agency")] = "province",
    scope: Annotated[Text, Query(description="the area's or agency's code; \"\" for the province")] = "",
) -> ScopeDays:
    """One scope's index and groups for each day of a month that has data (the console's
    chart of the index over the month)."""
    chosen = _period(state, "month", month)
    code = scope
    if by == "area":
        code = state.geography.canonical(scope) or ""
        if not code:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY,
                                f"unknown area code '{scope}' (GET /api/v1/areas lists them)")
    elif by == "province":
        code = ""
    async with state.pool.connection() as conn:
        per_day = await daily_indicator_sums(conn, by, code, chosen.start, chosen.end)
    offset = state.geography.utc_offset
    days = []
    for start in sorted(per_day):
        s = score(per_day[start])
        days.append(DayScore(start=local_iso(start, offset)[:10], index=as_float(s.index),
                             groups=_groups(s)))
    return ScopeDays(by=by, scope=code, name=_name(state, by, code),
                     month=chosen.first.isoformat()[:7], days=days)


