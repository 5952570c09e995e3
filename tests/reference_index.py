"""An independent recomputation of the service index (docs/contract/kpis.md, "Service
index") and of the items behind the gauges, from accepted events (see reference_kpis.py),
without the project's code."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from fractions import Fraction

from tests.reference_kpis import TZ, index_ratios

WEIGHTS = {  # indicator: (group, weight), as the catalogue's table gives them
    "dossier.synced_rate": ("transparency", 18),
    "dossier.on_time_rate": ("progress", 20),
    "dossier.digitized_rate": ("digitisation", 11),
    "dossier.result_digitized_rate": ("digitisation", 11),
    "dossier.online_rate": ("online_service", 11),
    "dossier.fee_online_rate": ("online_service", 11),
    "feedback.on_time_rate": ("satisfaction", 6),
    "feedback.satisfied_rate": ("satisfaction", 6),
    "dossier.satisfied_rate": ("satisfaction", 6),
}
GROUPS = ("transparency", "progress", "digitisation", "online_service", "satisfaction")


def as_double(value: Fraction | None) -> float | None:
    """What the API returns for an exact value: the nearest double."""
    return None if value is None else float(value)


def scope_of(ev: dict, by: str) -> str | None:
    if by == "province":
        return ""
    if by == "area":
        return ev["data"]["area"]
    return ev["data"].get("agency_code")


def expected_scorecard(events: list[dict], by: str, first: date, last: date,
                       ) -> list[dict[str, object]]:
    """The ranked rows for the local days first..last (inclusive): scope, rank, and the
    exact index and groups (Fractions, None without data)."""
    sums: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for ev in events:
        day = datetime.fromisoformat(ev["time"]).astimezone(TZ).date()
        scope = scope_of(ev, by)
        if scope is None or not first <= day <= last:
            continue
        for kpi, (num, den) in index_ratios(ev).items():
            sums[scope][kpi][0] += num
            sums[scope][kpi][1] += den
    rows = []
    for scope, ratios in sums.items():
        present = {k: Fraction(n, d) for k, (n, d) in ratios.items() if d}
        if not present:
            continue
        total_weight = sum(WEIGHTS[k][1] for k in present)
        groups: dict[str, Fraction | None] = dict.fromkeys(GROUPS)
        for kpi, ratio in present.items():
            group, weight = WEIGHTS[kpi]
            points = Fraction(100 * weight, total_weight) * ratio
            groups[group] = points if groups[group] is None else groups[group] + points
        index = Fraction(100 * sum(WEIGHTS[k][1] * r for k, r in present.items()), total_weight)
        rows.append({"scope": scope, "index": index, "groups": groups})
    rows.sort(key=lambda r: (-r["index"], r["scope"]))
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
    return rows


def expected_items(events: list[dict], kind: str, state: str, t: datetime,
                   area: str | None = None, agency: str | None = None) -> list[tuple[str, datetime]]:
    """(id, due) of the dossiers or feedback open / overdue / due soon at t, most overdue
    first (earliest due date, then id); area, agency and due of the earliest receipt."""
    key = f"{kind}_id"
    closing = {"dossier": ("dossier.resolved", "dossier.withdrawn"),
               "feedback": ("feedback.resolved",)}[kind]
    receipts: dict[str, list[tuple[datetime, str, datetime, str]]] = defaultdict(list)
    closed: dict[str, list[datetime]] = defaultdict(list)
    for ev in events:
        data, time = ev["data"], datetime.fromisoformat(ev["time"])
        if ev["type"] == f"{kind}.received":
            receipts[data[key]].append((time, data["area"], datetime.fromisoformat(data["due_at"]),
                                        data["agency_code"]))
        elif ev["type"] in closing:
            closed[data[key]].append(time)
    out = []
    for item, found in receipts.items():
        received, item_area, due, item_agency = min(found)
        if received > t or any(c <= t for c in closed.get(item, [])):
            continue
        if (area and item_area != area) or (agency and item_agency != agency):
            continue
        if state == "overdue" and not due < t:
            continue
        if state == "due_soon" and not t < due <= t + timedelta(hours=24):
            continue
        out.append((item, due))
    return sorted(out, key=lambda x: (x[1], x[0]))
