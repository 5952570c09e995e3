"""``/api/v1/reports``: the monthly report as a PDF, for the console's download button."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import Response

from api.deps import Reader, State
from ioc.geography.agencies import agencies_of
from ioc.report.model import MONTH_PATTERN, month_period
from ioc.report.service import monthly_pdf, report_filename
from ioc.targets import targets_of

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])

_PDF: dict[int | str, dict[str, Any]] = {200: {
    "description": "the report (application/pdf), offered as bao-cao-thang-YYYY-MM.pdf",
    "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}}}


@router.get("/monthly", response_class=Response, responses=_PDF)
async def monthly(
    state: State, _: Reader,
    month: Annotated[str, Query(pattern=MONTH_PATTERN, description="YYYY-MM: a calendar month in "
                                                                    "the province's local time")],
) -> Response:
    """The month's report: the service-index rankings of areas and of agencies, the
    province's KPIs against their targets, the alert episodes that fired; Vietnamese first,
    with English. The same as ``ioc report --month``."""
    try:
        month_period(month, state.geography.utc_offset)
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, str(exc)) from exc
    async with state.pool.connection() as conn:
        pdf = await monthly_pdf(conn, month=month, geography=state.geography,
                                agencies=agencies_of(state.settings),
                                targets=targets_of(state.settings), now=state.clock.now())
    return Response(pdf, media_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{report_filename(month)}"',
        "Cache-Control": "no-store"})
