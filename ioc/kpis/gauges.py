"""Dossier and feedback gauges from event-time facts per item. Pure.

An item's (a dossier's, or a citizen feedback item's) facts are its earliest receipt (time,
area, due date, agency, service) and its earliest closing (for a dossier: resolution or
withdrawal; for feedback: resolution). Facts merge by taking minima, so they do not depend
on the order events arrive in: a resolution seen before its receipt gives the same facts.

- dossier.open at t: a receipt at or before t and no closing at or before t.
- dossier.overdue_open at t: open at t and due before t.
- dossier.due_soon at t: open at t and due in (t, t + 24 h].
- feedback.open, feedback.overdue_open: the same for feedback.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from ioc.event_data import (
    DossierReceived,
    DossierResolved,
    DossierWithdrawn,
    FeedbackReceived,
    FeedbackResolved,
)
from ioc.events import Event

GAUGE_KPIS = ("dossier.open", "dossier.overdue_open", "dossier.due_soon", "feedback.open",
              "feedback.overdue_open", "sensor.stations_silent")
DUE_SOON = timedelta(hours=24)
"""dossier.due_soon looks this far ahead (docs/contract/kpis.md)."""


@dataclass(frozen=True, slots=True)
class Receipt:
    at: datetime
    area: str
    due_at: datetime
    agency: str = ""
    service: str = ""
    """A dossier's service_code; "" for feedback."""

    def key(self) -> tuple[datetime, str, datetime, str, str]:
        """The earliest receipt wins; on equal times, the smallest (area, due, agency,
        service), so the choice never depends on arrival order."""
        return (self.at, self.area, self.due_at, self.agency, self.service)


@dataclass(frozen=True, slots=True)
class DossierFacts:
    """The facts of one item, a dossier or a feedback item (the same rules hold)."""

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

    def due_soon_at(self, t: datetime) -> bool:
        return (self.open_at(t) and self.receipt is not None
                and t < self.receipt.due_at <= t + DUE_SOON)



def _add(facts: dict[str, DossierFacts], item: str, new: DossierFacts) -> None:
    old = facts.get(item)
    facts[item] = new if old is None else old.merge(new)


def _facts(events: Iterable[Event], received: type[DossierReceived] | type[FeedbackReceived],
           closing: tuple[type, ...], item: str) -> dict[str, DossierFacts]:
    facts: dict[str, DossierFacts] = {}
    for event in events:
        data = event.data
        if isinstance(data, DossierReceived | FeedbackReceived) and isinstance(data, received):
            _add(facts, getattr(data, item), DossierFacts(receipt=Receipt(
                event.time, data.area, data.due_at, data.agency_code,
                getattr(data, "service_code", ""))))
        elif isinstance(data, closing):
            _add(facts, getattr(data, item), DossierFacts(closed_at=event.time))
    return facts


def dossier_facts(events: Iterable[Event]) -> dict[str, DossierFacts]:
    """The facts each batch adds, per dossier_id."""
    return _facts(events, DossierReceived, (DossierResolved, DossierWithdrawn), "dossier_id")


def feedback_facts(events: Iterable[Event]) -> dict[str, DossierFacts]:
    """The facts each batch adds, per feedback_id."""
    return _facts(events, FeedbackReceived, (FeedbackResolved,), "feedback_id")


def gauges_at(facts: Iterable[DossierFacts], t: datetime, kind: str = "dossier",
              ) -> dict[tuple[str, str], int]:
    """{(kpi, area or '' for the province): value} at instant t, for the items of ``kind``
    ("dossier" or "feedback"); absent means 0."""
    out: dict[tuple[str, str], int] = {}
    for f in facts:
        if not f.open_at(t):
            continue
        assert f.receipt is not None
        kpis = [f"{kind}.open"]
        if f.receipt.due_at < t:
            kpis.append(f"{kind}.overdue_open")
        elif kind == "dossier" and t < f.receipt.due_at <= t + DUE_SOON:
            kpis.append("dossier.due_soon")
        for kpi in kpis:
            for scope in ("", f.receipt.area):
                out[(kpi, scope)] = out.get((kpi, scope), 0) + 1
    return out
