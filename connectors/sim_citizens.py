"""What the simulator adds for the service index (docs/contract/kpis.md) in a two-tier
geography: the optional dossier fields, citizens' ratings of resolved dossiers, and citizen
feedback (phản ánh, kiến nghị) received and resolved. Its draws come from its own random
stream, so the simulator's other output does not depend on them.

Proportions (realistic, not published figures): about 92% of dossiers synchronised to the
national portal, 80% digitised at receipt and 75% of results digitised; a fee on a third of
services, paid online for most online dossiers; one resolved dossier in five rated, 9 in 10
of those satisfied; about one feedback item per 25 dossiers, due in 10 days, nearly all
resolved in time, 7 in 10 with a verdict, most of them satisfied.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from connectors.sim_traffic import Service, TrafficPlan, poisson

FEEDBACK_PER_DOSSIER = 0.04
RATED_SHARE = 0.2
FEEDBACK_DUE = timedelta(days=10)

Item = tuple[datetime, str, str, dict[str, Any]]
"""(time, event id, type, data) of an event the simulator wraps in its envelope."""


class _Resolved(Protocol):
    dossier_id: str
    agency_code: str
    area: str


@dataclass(slots=True)
class _OpenFeedback:
    feedback_id: str
    agency_code: str
    area: str
    due_at: datetime


class Citizens:
    def __init__(self, seed: int, run: str) -> None:
        self._rng = random.Random(f"ioc-sim:{seed}:citizens")
        self._run = run
        self._seq = 0
        self._open: list[_OpenFeedback] = []
        self._ratings: list[Item] = []

    @staticmethod
    def _has_fee(service: Service) -> bool:
        return zlib.crc32(service.code.encode()) % 3 == 0

    def receipt_fields(self, service: Service, channel: str) -> dict[str, Any]:
        rng = self._rng
        fields: dict[str, Any] = {"synced_national": rng.random() < 0.92,
                                  "digitized": rng.random() < 0.8}
        if self._has_fee(service):
            fields["fee_vnd"] = rng.choice((15_000, 30_000, 50_000, 100_000, 200_000))
            fields["fee_paid_online"] = rng.random() < (0.85 if channel == "online" else 0.1)
        return fields

    def resolution_fields(self) -> dict[str, Any]:
        return {"result_digitized": self._rng.random() < 0.75}

    def resolved(self, dossier: _Resolved, t: datetime) -> None:
        """A citizen may rate the dossier just resolved (in the same instant)."""
        if self._rng.random() < RATED_SHARE:
            self._ratings.append((t, f"{dossier.dossier_id}-rate", "dossier.rated", {
                "dossier_id": dossier.dossier_id, "agency_code": dossier.agency_code,
                "area": dossier.area, "satisfied": self._rng.random() < 0.9}))

    def between(self, start: datetime, end: datetime, dossier_mean: float, plan: TrafficPlan,
                ) -> Iterator[Item]:
        """The ratings of dossiers resolved so far, and the feedback of [start, end): items
        received before ``start`` resolved, then new ones received."""
        rng = self._rng
        ratings, self._ratings = self._ratings, []
        yield from ratings
        width = (end - start).total_seconds()
        for _ in range(poisson(rng, dossier_mean * FEEDBACK_PER_DOSSIER * 0.95)):
            if not self._open:
                break
            at = start + timedelta(seconds=rng.uniform(0, width))
            item = self._open.pop(rng.randrange(min(len(self._open), 200)))
            data: dict[str, Any] = {"feedback_id": item.feedback_id, "agency_code": item.agency_code,
                                    "area": item.area, "due_at": item.due_at.isoformat()}
            if rng.random() < 0.7:
                data["satisfied"] = rng.random() < 0.85
            yield (at, f"{item.feedback_id}-res", "feedback.resolved", data)
        for _ in range(poisson(rng, dossier_mean * FEEDBACK_PER_DOSSIER)):
            at = start + timedelta(seconds=rng.uniform(0, width))
            area = plan.pick_area(rng)
            agency = plan.agency(rng.choice(plan.services), area)
            self._seq += 1
            new = _OpenFeedback(f"PA-{area}-{self._run}-{self._seq:07d}", agency, area,
                                at + FEEDBACK_DUE)
            self._open.append(new)
            yield (at, f"{new.feedback_id}-recv", "feedback.received", {
                "feedback_id": new.feedback_id, "agency_code": agency, "area": area,
                "due_at": new.due_at.isoformat()})
