"""What the soak's clients were told was acknowledged, the KPIs recomputed from it, and the
comparison with what the system stored. Pure.

Only an event whose request got 202 (or whose webhook delivery got 200) is acknowledged; the
first acknowledgement of a (source, id) counts, later ones are duplicates. Each acknowledged
event must be counted exactly once: in the day (local time) of its ``time``, in its area
and in the province. Counter KPIs are compared by value; ratio KPIs by numerator and
denominator (docs/contract/kpis.md).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from typing import Any

from ioc.events import dedup_key

COUNTERS = ("dossier.received", "dossier.resolved", "dossier.resolved_on_time", "payment.count",
            "payment.value_vnd")
RATIOS = ("dossier.online_rate", "dossier.on_time_rate", "payment.non_cash_rate",
          "payment.non_cash_value_rate")
EVENT_COUNTERS = {"dossier.received": "dossier.received", "payment.completed": "payment.count",
                  "dossier.resolved": "dossier.resolved"}
"""The counter each generated type adds one to (each event is in exactly one of them)."""

Cell = tuple[str, str, date]
"""(KPI id, area code or "" for the province, local day)."""


@dataclass(frozen=True, slots=True)
class Facts:
    """What of an event the recomputation needs."""
    kind: str
    area: str
    day: date
    amount: int
    flag: bool
    """dossier.received: channel online; payment: not cash; dossier.resolved: on time."""


def facts_of(event: Mapping[str, Any], tz: tzinfo) -> Facts:
    data = event["data"]
    kind = event["type"]
    day = datetime.fromisoformat(event["time"]).astimezone(tz).date()
    amount = int(data.get("amount_vnd", 0)) if kind == "payment.completed" else 0
    if kind == "dossier.received":
        flag = data.get("channel") == "online"
    elif kind == "payment.completed":
        flag = data.get("method") != "cash"
    else:
        flag = datetime.fromisoformat(event["time"]) <= datetime.fromisoformat(data["due_at"])
    return Facts(kind, str(data["area"]), day, amount, flag)


@dataclass
class AckBook:
    """Every acknowledged event by its deduplication key."""
    tz: tzinfo
    acked: dict[bytes, Facts] = field(default_factory=dict)
    acks: int = 0
    """Acknowledgements, duplicates included."""

    def ack(self, event: Mapping[str, Any]) -> None:
        self.acks += 1
        key = dedup_key(event["source"], event["id"])
        if key not in self.acked:
            self.acked[key] = facts_of(event, self.tz)


def expected_cells(facts: Iterable[Facts]) -> dict[Cell, tuple[int, int]]:
    """(value, 0) per counter cell and (numerator, denominator) per ratio cell."""
    cells: dict[Cell, list[int]] = defaultdict(lambda: [0, 0])

    def add(kpi: str, f: Facts, num: int, den: int = 0) -> None:
        for scope in ("", f.area):
            cell = cells[(kpi, scope, f.day)]
            cell[0] += num
            cell[1] += den

    for f in facts:
        add(EVENT_COUNTERS[f.kind], f, 1)
        if f.kind == "payment.completed":
            add("payment.value_vnd", f, f.amount)
            add("payment.non_cash_rate", f, int(f.flag), 1)
            add("payment.non_cash_value_rate", f, f.amount if f.flag else 0, f.amount)
        elif f.kind == "dossier.received":
            add("dossier.online_rate", f, int(f.flag), 1)
        elif f.kind == "dossier.resolved":
            add("dossier.resolved_on_time", f, int(f.flag))
            add("dossier.on_time_rate", f, int(f.flag), 1)
    return {k: (v[0], v[1]) for k, v in cells.items()}


@dataclass(frozen=True)
class Comparison:
    missing_events: int
    """Acknowledged events the province's event counters lack."""
    excess_events: int
    """Events the province's event counters hold beyond those acknowledged: double-counted."""
    missing_vnd: int
    excess_vnd: int
    wrong_cells: list[tuple[Cell, tuple[int, int] | None, tuple[int, int] | None]]
    """(cell, stored, expected) for every cell that differs, any KPI and scope."""


def compare(expected: Mapping[Cell, tuple[int, int]], got: Mapping[Cell, tuple[int, int]]) -> Comparison:
    missing = excess = missing_vnd = excess_vnd = 0
    wrong = []
    for cell in sorted(set(expected) | set(got), key=lambda c: (c[0], c[1], c[2])):
        want, have = expected.get(cell), got.get(cell)
        if (want or (0, 0)) == (have or (0, 0)):
            continue
        wrong.append((cell, have, want))
        kpi, scope, _ = cell
        if scope:
            continue
        diff = (have or (0, 0))[0] - (want or (0, 0))[0]
        if kpi in EVENT_COUNTERS.values():
            excess, missing = excess + max(diff, 0), missing + max(-diff, 0)
        elif kpi == "payment.value_vnd":
            excess_vnd, missing_vnd = excess_vnd + max(diff, 0), missing_vnd + max(-diff, 0)
    return Comparison(missing, excess, missing_vnd, excess_vnd, wrong)


def longest_gap(times: Sequence[float]) -> tuple[float, float]:
    """The longest interval between consecutive instants, and when it began."""
    best, at = 0.0, times[0] if times else 0.0
    for before, after in itertools.pairwise(times):
        if after - before > best:
            best, at = after - before, before
    return best, at


def growth_per_hour(samples: Sequence[tuple[float, float]]) -> float | None:
    """Least-squares slope of (seconds, value) samples, per hour; None with fewer than 3."""
    if len(samples) < 3:
        return None
    n = len(samples)
    mean_t = sum(t for t, _ in samples) / n
    mean_v = sum(v for _, v in samples) / n
    var = sum((t - mean_t) ** 2 for t, _ in samples)
    if var == 0:
        return None
    cov = sum((t - mean_t) * (v - mean_v) for t, v in samples)
    return cov / var * 3600
