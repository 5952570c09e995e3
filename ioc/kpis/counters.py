"""Counters and ratios from accepted events, as additive (numerator, denominator) cells.

Everything here is pure and additive: the cells of a stream equal the sum of the cells of
any split of it into batches, in any order. That is what makes batched, replayed and
late-corrected aggregation exact.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from ioc.events import DossierReceived, DossierResolved, Event, PaymentCompleted
from ioc.kpis.buckets import Bucket, bucket_start

PROVINCE = ""
"""The district value of province-wide cells."""
NO_DIM = ""


@dataclass(frozen=True, slots=True, order=True)
class CellKey:
    kpi: str
    district: str
    dim: str
    dim_value: str
    bucket: datetime


Counts = tuple[int, int]
"""(numerator, denominator); a counter keeps its count in the numerator and 0 below."""

Cells = dict[CellKey, Counts]


def _add(cells: dict[CellKey, list[int]], kpi: str, district: str, bucket: datetime,
         num: int, den: int, dims: Iterable[tuple[str, str]] = ()) -> None:
    for scope in (PROVINCE, district):
        for dim, value in ((NO_DIM, NO_DIM), *dims):
            cell = cells[CellKey(kpi, scope, dim, value, bucket)]
            cell[0] += num
            cell[1] += den


def event_cells(events: Iterable[Event], utc_offset: timedelta) -> Cells:
    """Per 1-minute bucket cells of every counter and ratio KPI, province-wide and per district."""
    acc: dict[CellKey, list[int]] = defaultdict(lambda: [0, 0])
    for event in events:
        data = event.data
        minute = bucket_start(event.time, Bucket.MINUTE, utc_offset)
        if isinstance(data, DossierReceived):
            d = data.district
            online = data.channel == "online"
            full = online and data.service_level == "full_online"
            _add(acc, "dossier.received", d, minute, 1, 0, (
                ("agency_code", data.agency_code), ("channel", data.channel),
                ("service_level", data.service_level)))
            _add(acc, "dossier.online_rate", d, minute, int(online), 1)
            _add(acc, "dossier.full_online_rate", d, minute, int(full), 1)
        elif isinstance(data, DossierResolved):
            d = data.district
            on_time = int(event.time <= data.due_at)
            agency = (("agency_code", data.agency_code),)
            _add(acc, "dossier.resolved", d, minute, 1, 0, agency)
            _add(acc, "dossier.resolved_on_time", d, minute, on_time, 0, agency)
            _add(acc, "dossier.on_time_rate", d, minute, on_time, 1)
        elif isinstance(data, PaymentCompleted):
            d = data.district
            non_cash = data.method != "cash"
            method = (("method", data.method),)
            _add(acc, "payment.count", d, minute, 1, 0, method)
            _add(acc, "payment.value_vnd", d, minute, data.amount_vnd, 0, method)
            _add(acc, "payment.non_cash_rate", d, minute, int(non_cash), 1)
            _add(acc, "payment.non_cash_value_rate", d, minute,
                 data.amount_vnd if non_cash else 0, data.amount_vnd)
    return {key: (v[0], v[1]) for key, v in acc.items()}


def rollup(cells: Mapping[CellKey, Counts], bucket: Bucket, utc_offset: timedelta) -> Cells:
    """Regroup cells into coarser buckets by summing numerators and denominators."""
    acc: dict[CellKey, list[int]] = defaultdict(lambda: [0, 0])
    for key, (num, den) in cells.items():
        coarse = CellKey(key.kpi, key.district, key.dim, key.dim_value,
                         bucket_start(key.bucket, bucket, utc_offset))
        cell = acc[coarse]
        cell[0] += num
        cell[1] += den
    return {key: (v[0], v[1]) for key, v in acc.items()}


def merge(into: dict[CellKey, Counts], cells: Mapping[CellKey, Counts]) -> None:
    """Add ``cells`` into ``into`` in place."""
    for key, (num, den) in cells.items():
        old = into.get(key, (0, 0))
        into[key] = (old[0] + num, old[1] + den)
