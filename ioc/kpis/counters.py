"""Counters and ratios from accepted events, as additive (numerator, denominator) cells.

Everything here is pure and additive: the cells of a stream equal the sum of the cells of
any split of it into batches, in any order. That is what makes batched, replayed and
late-corrected aggregation exact.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import NamedTuple

from ioc.events import DossierReceived, DossierResolved, Event, PaymentCompleted
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


def _add(cells: dict[CellKey, list[int]], kpi: str, area: str, bucket: datetime,
         num: int, den: int, dims: Iterable[tuple[str, str]] = ()) -> None:
    for scope in (PROVINCE, area):
        for dim, value in ((NO_DIM, NO_DIM), *dims):
            cell = cells[CellKey(kpi, scope, dim, value, bucket)]
            cell[0] += num
            cell[1] += den


def event_cells(events: Iterable[Event], utc_offset: timedelta) -> Cells:
    """Per 1-minute bucket cells of every counter and ratio KPI, province-wide and per area.

    Events are first tallied by what the cells depend on (type, area, breakdown values,
    minute), then each distinct tally is spread over its cells once: a batch has far fewer
    distinct tallies than events."""
    offset_s = int(utc_offset.total_seconds())
    minutes: dict[int, datetime] = {}  # local minute number -> bucket start
    received: dict[tuple[str, str, str, str, datetime], int] = defaultdict(int)
    resolved: dict[tuple[str, str, datetime], list[int]] = defaultdict(lambda: [0, 0])
    payments: dict[tuple[str, str, datetime], list[int]] = defaultdict(lambda: [0, 0, 0])
    for event in events:
        data = event.data
        number = (int(event.time.timestamp() // 1) + offset_s) // 60
        minute = minutes.get(number)
        if minute is None:
            minute = minutes[number] = bucket_start(event.time, Bucket.MINUTE, utc_offset)
        if isinstance(data, DossierReceived):
            received[(data.area, data.agency_code, data.channel, data.service_level,
                      minute)] += 1
        elif isinstance(data, DossierResolved):
            tally = resolved[(data.area, data.agency_code, minute)]
            tally[0] += 1
            tally[1] += event.time <= data.due_at
        elif isinstance(data, PaymentCompleted):
            tally = payments[(data.area, data.method, minute)]
            tally[0] += 1
            tally[1] += data.amount_vnd
            tally[2] += data.amount_vnd if data.method != "cash" else 0

    acc: dict[CellKey, list[int]] = defaultdict(lambda: [0, 0])
    for (d, agency, channel, level, minute), n in received.items():
        online = n if channel == "online" else 0
        full = online if level == "full_online" else 0
        _add(acc, "dossier.received", d, minute, n, 0, (
            ("agency_code", agency), ("channel", channel), ("service_level", level)))
        _add(acc, "dossier.online_rate", d, minute, online, n)
        _add(acc, "dossier.full_online_rate", d, minute, full, n)
    for (d, agency, minute), (n, on_time) in resolved.items():
        by_agency = (("agency_code", agency),)
        _add(acc, "dossier.resolved", d, minute, n, 0, by_agency)
        _add(acc, "dossier.resolved_on_time", d, minute, on_time, 0, by_agency)
        _add(acc, "dossier.on_time_rate", d, minute, on_time, n)
    for (d, method, minute), (n, amount, non_cash_amount) in payments.items():
        by_method = (("method", method),)
        non_cash = n if method != "cash" else 0
        _add(acc, "payment.count", d, minute, n, 0, by_method)
        _add(acc, "payment.value_vnd", d, minute, amount, 0, by_method)
        _add(acc, "payment.non_cash_rate", d, minute, non_cash, n)
        _add(acc, "payment.non_cash_value_rate", d, minute, non_cash_amount, amount)
    return {key: (v[0], v[1]) for key, v in acc.items()}


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
