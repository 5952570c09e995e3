"""Counters and ratios from accepted events, as additive (numerator, denominator) cells.

Everything here is pure and additive: the cells of a stream equal the sum of the cells of
any split of it into batches, in any order. That is what makes batched, replayed and
late-corrected aggregation exact.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

from ioc.event_data import (
    DossierRated,
    DossierReceived,
    DossierResolved,
    FeedbackReceived,
    FeedbackResolved,
    PaymentCompleted,
)
from ioc.events import Event
from ioc.kpis.buckets import Bucket, bucket_start

PROVINCE = ""
"""The area value of province-wide cells."""
NO_DIM = ""


class CellKey(NamedTuple):
    """One cell: a KPI in one scope, breakdown and bucket (a tuple, so hashing is cheap)."""

    kpi: str
    area: str
    dim: str
    dim_value: str
    bucket: datetime


Counts = tuple[int, int]
"""(numerator, denominator); a counter keeps its count in the numerator and 0 below."""

Cells = dict[CellKey, Counts]


def _put(cells: dict[CellKey, Counts], kpi: str, area: str, bucket: datetime, num: int,
         den: int = 0, dim: str = NO_DIM, value: str = NO_DIM) -> None:
    key = CellKey(kpi, area, dim, value, bucket)
    old = cells.get(key)
    cells[key] = (num, den) if old is None else (old[0] + num, old[1] + den)


def event_cells(events: Iterable[Event], utc_offset: timedelta) -> Cells:
    """Per 1-minute bucket cells of every counter and ratio KPI, province-wide (with its
    breakdowns) and per area.

    Events are first tallied by what the cells depend on: per area and minute, and for the
    province's breakdowns per breakdown value and minute. Each distinct tally is then
    spread over its cells once: a batch has far fewer distinct tallies than events, and
    breakdowns are province-wide (docs/contract/kpis.md), so an area's tallies need none."""
    offset_s = int(utc_offset.total_seconds())
    minutes: dict[int, datetime] = {}  # local minute number -> bucket start
    received: dict[tuple[str, datetime], list[int]] = defaultdict(lambda: [0] * len(_RECEIVED))
    received_agency: dict[tuple[str, datetime], int] = defaultdict(int)
    received_by: dict[tuple[str, str, datetime], int] = defaultdict(int)
    resolved: dict[tuple[str, datetime], list[int]] = defaultdict(lambda: [0, 0, 0])
    resolved_agency: dict[tuple[str, datetime], list[int]] = defaultdict(lambda: [0, 0])
    rated: dict[tuple[str, datetime], list[int]] = defaultdict(lambda: [0, 0])
    feedback: dict[tuple[str, datetime], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    payments: dict[tuple[str, datetime], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    payments_by: dict[tuple[str, datetime], list[int]] = defaultdict(lambda: [0, 0])
    for event in events:
        data = event.data
        number = (int(event.time.timestamp() // 1) + offset_s) // 60
        minute = minutes.get(number)
        if minute is None:
            minute = minutes[number] = bucket_start(event.time, Bucket.MINUTE, utc_offset)
        if isinstance(data, DossierReceived):
            is_online = data.channel == "online"
            has_fee = data.fee_vnd > 0
            flags = (1, is_online, is_online and data.service_level == "full_online",
                     data.synced_national, data.digitized, has_fee,
                     has_fee and data.fee_paid_online)
            tally = received[(data.area, minute)]
            for i, flag in enumerate(flags):
                tally[i] += flag
            received_agency[(data.agency_code, minute)] += 1
            received_by[(data.channel, data.service_level, minute)] += 1
        elif isinstance(data, DossierResolved):
            in_time = event.time <= data.due_at
            tally = resolved[(data.area, minute)]
            tally[0] += 1
            tally[1] += in_time
            tally[2] += data.result_digitized
            tally = resolved_agency[(data.agency_code, minute)]
            tally[0] += 1
            tally[1] += in_time
        elif isinstance(data, DossierRated):
            tally = rated[(data.area, minute)]
            tally[0] += 1
            tally[1] += data.satisfied
        elif isinstance(data, FeedbackReceived):
            feedback[(data.area, minute)][0] += 1
        elif isinstance(data, FeedbackResolved):
            in_time = event.time <= data.due_at
            tally = feedback[(data.area, minute)]
            tally[1] += 1
            tally[2] += in_time
            tally[3] += in_time and data.satisfied is not False
        elif isinstance(data, PaymentCompleted):
            is_non_cash = data.method != "cash"
            tally = payments[(data.area, minute)]
            tally[0] += 1
            tally[1] += data.amount_vnd
            tally[2] += is_non_cash
            tally[3] += data.amount_vnd if is_non_cash else 0
            tally = payments_by[(data.method, minute)]
            tally[0] += 1
            tally[1] += data.amount_vnd

    cells: Cells = {}
    for (area, minute), tally in received.items():
        for scope in (PROVINCE, area):
            _received_cells(cells, scope, minute, tally, NO_DIM, NO_DIM)
    for (agency, minute), n in received_agency.items():
        _put(cells, "dossier.received", PROVINCE, minute, n, 0, "agency_code", agency)
    for (channel, level, minute), n in received_by.items():
        _put(cells, "dossier.received", PROVINCE, minute, n, 0, "channel", channel)
        _put(cells, "dossier.received", PROVINCE, minute, n, 0, "service_level", level)
    for (area, minute), tally in resolved.items():
        for scope in (PROVINCE, area):
            _resolved_cells(cells, scope, minute, tally, NO_DIM, NO_DIM)
    for (agency, minute), (n, on_time) in resolved_agency.items():
        _put(cells, "dossier.resolved", PROVINCE, minute, n, 0, "agency_code", agency)
        _put(cells, "dossier.resolved_on_time", PROVINCE, minute, on_time, 0, "agency_code", agency)
    for (area, minute), tally in rated.items():
        for scope in (PROVINCE, area):
            _rated_cells(cells, scope, minute, tally, NO_DIM, NO_DIM)
    for (area, minute), tally in feedback.items():
        for scope in (PROVINCE, area):
            _feedback_cells(cells, scope, minute, tally, NO_DIM, NO_DIM)
    for (area, minute), (n, amount, non_cash, non_cash_amount) in payments.items():
        for scope in (PROVINCE, area):
            _put(cells, "payment.count", scope, minute, n)
            _put(cells, "payment.value_vnd", scope, minute, amount)
            _put(cells, "payment.non_cash_rate", scope, minute, non_cash, n)
            _put(cells, "payment.non_cash_value_rate", scope, minute, non_cash_amount, amount)
    for (method, minute), (n, amount) in payments_by.items():
        _put(cells, "payment.count", PROVINCE, minute, n, 0, "method", method)
        _put(cells, "payment.value_vnd", PROVINCE, minute, amount, 0, "method", method)
    return cells


def agency_day_cells(events: Iterable[Event], utc_offset: timedelta) -> Cells:
    """Per local day cells of the breakdowns by agency_code that version 2 added: the
    service index's ratios and the counters dossier.rated, feedback.received and
    feedback.resolved (docs/contract/kpis.md). Kept per day only (the scorecard ranks
    agencies per day and month): per minute they were most of the cells a batch wrote.
    dossier.received, dossier.resolved and dossier.resolved_on_time keep their breakdown by
    agency in every bucket size (:func:`event_cells`)."""
    days: dict[int, datetime] = {}
    offset_s = int(utc_offset.total_seconds())
    received: dict[tuple[str, datetime], list[int]] = defaultdict(lambda: [0] * len(_RECEIVED))
    resolved: dict[tuple[str, datetime], list[int]] = defaultdict(lambda: [0, 0, 0])
    rated: dict[tuple[str, datetime], list[int]] = defaultdict(lambda: [0, 0])
    feedback: dict[tuple[str, datetime], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for event in events:
        data = event.data
        if not isinstance(data, _AGENCY_TYPES):
            continue
        number = (int(event.time.timestamp() // 1) + offset_s) // 86400
        day = days.get(number)
        if day is None:
            day = days[number] = bucket_start(event.time, Bucket.DAY, utc_offset)
        if isinstance(data, DossierReceived):
            is_online = data.channel == "online"
            has_fee = data.fee_vnd > 0
            tally = received[(data.agency_code, day)]
            for i, flag in enumerate((1, is_online, False, data.synced_national, data.digitized,
                                      has_fee, has_fee and data.fee_paid_online)):
                tally[i] += flag
        elif isinstance(data, DossierResolved):
            tally = resolved[(data.agency_code, day)]
            tally[0] += 1
            tally[1] += event.time <= data.due_at
            tally[2] += data.result_digitized
        elif isinstance(data, DossierRated):
            tally = rated[(data.agency_code, day)]
            tally[0] += 1
            tally[1] += data.satisfied
        elif isinstance(data, FeedbackReceived):
            feedback[(data.agency_code, day)][0] += 1
        else:
            in_time = event.time <= data.due_at
            tally = feedback[(data.agency_code, day)]
            tally[1] += 1
            tally[2] += in_time
            tally[3] += in_time and data.satisfied is not False
    cells: Cells = {}
    for (agency, day), tally in received.items():
        _received_cells(cells, PROVINCE, day, tally, "agency_code", agency)
    for (agency, day), tally in resolved.items():
        _resolved_cells(cells, PROVINCE, day, tally, "agency_code", agency)
    for (agency, day), tally in rated.items():
        _rated_cells(cells, PROVINCE, day, tally, "agency_code", agency)
    for (agency, day), tally in feedback.items():
        _feedback_cells(cells, PROVINCE, day, tally, "agency_code", agency)
    return cells


_AGENCY_TYPES = (DossierReceived, DossierResolved, DossierRated, FeedbackReceived, FeedbackResolved)
_RECEIVED = ("n", "online", "full_online", "synced", "digitized", "with_fee", "fee_online")


def _received_cells(cells: Cells, scope: str, minute: datetime, tally: list[int], dim: str,
                    value: str) -> None:
    n, online, full, synced, digitized, with_fee, fee_online = tally
    if not dim:  # (by agency: the count in event_cells; the full-online share is no indicator)
        _put(cells, "dossier.received", scope, minute, n)
        _put(cells, "dossier.full_online_rate", scope, minute, full, n)
    _put(cells, "dossier.online_rate", scope, minute, online, n, dim, value)
    _put(cells, "dossier.synced_rate", scope, minute, synced, n, dim, value)
    _put(cells, "dossier.digitized_rate", scope, minute, digitized, n, dim, value)
    if with_fee:
        _put(cells, "dossier.fee_online_rate", scope, minute, fee_online, with_fee, dim, value)


def _resolved_cells(cells: Cells, scope: str, minute: datetime, tally: list[int], dim: str,
                    value: str) -> None:
    n, on_time, result_digitized = tally
    if not dim:  # (by agency: the counts in event_cells)
        _put(cells, "dossier.resolved", scope, minute, n)
        _put(cells, "dossier.resolved_on_time", scope, minute, on_time)
    _put(cells, "dossier.on_time_rate", scope, minute, on_time, n, dim, value)
    _put(cells, "dossier.result_digitized_rate", scope, minute, result_digitized, n, dim, value)


def _rated_cells(cells: Cells, scope: str, minute: datetime, tally: list[int], dim: str,
                 value: str) -> None:
    n, satisfied = tally
    _put(cells, "dossier.rated", scope, minute, n, 0, dim, value)
    _put(cells, "dossier.satisfied_rate", scope, minute, satisfied, n, dim, value)


def _feedback_cells(cells: Cells, scope: str, minute: datetime, tally: list[int], dim: str,
                    value: str) -> None:
    received, resolved, on_time, satisfied = tally
    if received:
        _put(cells, "feedback.received", scope, minute, received, 0, dim, value)
    if resolved:
        _put(cells, "feedback.resolved", scope, minute, resolved, 0, dim, value)
        _put(cells, "feedback.on_time_rate", scope, minute, on_time, resolved, dim, value)
        _put(cells, "feedback.satisfied_rate", scope, minute, satisfied, resolved, dim, value)


def bucket_cells(events: Sequence[Event], utc_offset: timedelta) -> dict[Bucket, Cells]:
    """Every counter and ratio cell of ``events`` at each bucket size: the minute cells, their
    rollups, and (per day only) version 2's breakdowns by agency."""
    minute = event_cells(events, utc_offset)
    hour = rollup(minute, Bucket.HOUR, utc_offset)
    day = rollup(hour, Bucket.DAY, utc_offset)  # (the hours: fewer to regroup than minutes)
    merge(day, agency_day_cells(events, utc_offset))
    return {Bucket.MINUTE: minute, Bucket.HOUR: hour, Bucket.DAY: day}


def rollup(cells: Mapping[CellKey, Counts], bucket: Bucket, utc_offset: timedelta) -> Cells:
    """Regroup cells into coarser buckets by summing numerators and denominators."""
    starts: dict[datetime, datetime] = {}
    acc: dict[CellKey, list[int]] = defaultdict(lambda: [0, 0])
    for (kpi, area, dim, dim_value, fine), (num, den) in cells.items():
        start = starts.get(fine)
        if start is None:
            start = starts[fine] = bucket_start(fine, bucket, utc_offset)
        cell = acc[CellKey(kpi, area, dim, dim_value, start)]
        cell[0] += num
        cell[1] += den
    return {key: (v[0], v[1]) for key, v in acc.items()}


def merge(into: dict[CellKey, Counts], cells: Mapping[CellKey, Counts]) -> None:
    """Add ``cells`` into ``into`` in place."""
    for key, (num, den) in cells.items():
        old = into.get(key, (0, 0))
        into[key] = (old[0] + num, old[1] + den)
