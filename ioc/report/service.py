"""The monthly report for a month, read from storage and drawn: what ``ioc report`` and
``GET /api/v1/reports/monthly`` call. The I/O edge of :mod:`ioc.report`: reads in one
read-only transaction (one snapshot: rankings, KPIs and alerts agree), then pure building
and drawing."""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime
from pathlib import Path

from psycopg import AsyncConnection

from ioc.clock import Clock
from ioc.geography import Geography, geography_of
from ioc.geography.agencies import Agencies, agencies_of
from ioc.report import reads
from ioc.report.build import build_report, reported_kpis
from ioc.report.model import MonthlyReport, Period, month_period
from ioc.report.rankings import month_rankings
from ioc.report.render import render_pdf
from ioc.settings import Settings
from ioc.targets import Targets, targets_of


async def read_report(conn: AsyncConnection, *, period: Period, geography: Geography,
                      agencies: Agencies, targets: Targets, now: datetime) -> MonthlyReport:
    """Everything the report shows for ``period``, read in one snapshot."""
    async with conn.transaction():
        await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        areas, by_agency = await month_rankings(conn, period, geography, agencies)
        sums = await reads.month_sums(conn, period.start, period.end,
                                      [k.id for k in reported_kpis()])
        alerts, total = await reads.fired_alerts(conn, period.start, period.end)
    return build_report(geography=geography, period=period, generated_at=now, areas=areas,
                        agencies=by_agency, sums=sums, targets=targets, alerts=alerts,
                        alerts_total=total)


async def monthly_pdf(conn: AsyncConnection, *, month: str, geography: Geography,
                      agencies: Agencies, targets: Targets, now: datetime) -> bytes:
    """The PDF of ``month`` (``YYYY-MM``, local calendar month); ValueError for a bad month.
    Drawing runs in a thread: it takes a few hundred milliseconds of CPU."""
    period = month_period(month, geography.utc_offset)
    report = await read_report(conn, period=period, geography=geography, agencies=agencies,
                               targets=targets, now=now)
    return await asyncio.to_thread(render_pdf, report)


def report_filename(month: str) -> str:
    """The file name a download is offered under: ``bao-cao-thang-YYYY-MM.pdf``."""
    return f"bao-cao-thang-{month}.pdf"


async def report_for(settings: Settings, month: str, clock: Clock) -> bytes:
    """The PDF of ``month`` from the database the settings name, with the deployment's
    geography, agencies and targets."""
    geography = geography_of(settings)
    async with await AsyncConnection.connect(settings.database_url, autocommit=True) as conn:
        return await monthly_pdf(conn, month=month, geography=geography,
                                 agencies=agencies_of(settings), targets=targets_of(settings),
                                 now=clock.now())


def run_report(settings: Settings, month: str, out: str | None, clock: Clock) -> int:
    """``ioc report``: write the month's PDF to ``out`` (default: its file name in the
    current directory; ``-``: standard output). 2 for a bad month."""
    try:
        month_period(month, geography_of(settings).utc_offset)
    except ValueError as exc:
        print(f"ioc report: {exc}", file=sys.stderr)
        return 2
    pdf = asyncio.run(report_for(settings, month, clock))
    if out == "-":
        sys.stdout.buffer.write(pdf)
        sys.stdout.buffer.flush()
        return 0
    path = Path(out or report_filename(month))
    path.write_bytes(pdf)
    print(f"ioc report: {path} ({len(pdf):,} bytes), month {month}", file=sys.stderr)
    return 0
