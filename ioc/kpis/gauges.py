"""Dossier gauges from event-time facts per dossier. Pure.

A dossier's facts are its earliest receipt (time, area, due date) and its earliest
closing (resolution or withdrawal). Facts merge by taking minima, so they do not depend on
the order events arrive in: a resolution seen before its receipt gives the same facts.

- dossier.open at t: a receipt at or before t and no closing at or before t.
- dossier.overdue_open at t: open at t and due before t.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from ioc.events import DossierReceived, DossierResolved, DossierWithdrawn, Event

GAUGE_KPIS = ("dossier.open", "dossier.overdue_open", "sensor.stations_silent")


@dataclass(frozen=True, slots=True)
class Receipt:
    at: datetime
    area: str
    due_at: datetime

    def key(self) -> tuple[datetime, str, datetime]:
        return (self.at, self.area, self.due_at)


@dataclass(frozen=True, slots=True)
class DossierFacts:
    receipt: Receipt | None = None
    closed_at: datetime | None = None

    def merge(self, other: DossierFacts) -> DossierFacts:
        receipts = [r for r in (self.receipt, other.receipt) if r is not None]
        closings = [c for c in (self.closed_at, other.closed_at) if c is not None]
        return DossierFacts(min(receipts, key=Receipt.key) if receipts else None,
                            min(closings) if closings else None)

    def open_at(self, t: datetime) -> bool:
        return (self.receipt is not None and self.receipt.at <= t
                and (self.closed_at is None or self.closed_at > t))

    def overdue_at(self, t: datetime) -> bool:
        return self.open_at(t) and self.receipt is not None and self.receipt.due_at < t


def dossier_facts(events: Iterable[Event]) -> dict[str, DossierFacts]:
    """The facts each batch adds, per dossier_id."""
    facts: dict[str, DossierFacts] = {}
    for event in events:
        data = event.data
        if isinstance(data, DossierReceived):
            new = DossierFacts(receipt=Receipt(event.time, data.area, data.due_at))
        elif isinstance(data, DossierResolved | DossierWithdrawn):
            new = DossierFacts(closed_at=event.time)
        else:
            continue
        old = facts.get(data.dossier_id)
        facts[data.dossier_id] = new if old is None else old.merge(new)
    return facts


def gauges_at(facts: Iterable[DossierFacts], t: datetime) -> dict[tuple[str, str], int]:
    """{(kpi, area or '' for the province): value} at instant t; absent means 0."""
    out: dict[tuple[str, str], int] = {}
    for f in facts:
        if not f.open_at(t):
            continue
        assert f.receipt is not None
        kpis = ("dossier.open", "dossier.overdue_open") if f.receipt.due_at < t else ("dossier.open",)
        for kpi in kpis:
            for scope in ("", f.receipt.area):
                out[(kpi, scope)] = out.get((kpi, scope), 0) + 1
    return out
