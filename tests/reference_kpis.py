"""An independent recomputation of the KPIs from a list of events, in plain Python.

Written from docs/contract/events.md and kpis.md without using the project's KPI code:
it judges each event itself, keeps the first of each (source, id), and counts per bucket
using local wall-clock arithmetic (zoneinfo) rather than epoch offsets.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
CHANNELS = {"online", "counter", "postal"}
LEVELS = {"full_online", "partial_online", "offline"}
METHODS = {"cash", "card", "bank_transfer", "e_wallet", "qr"}
PURPOSES = {"fee", "tax", "utility", "other"}
METRICS = {"pm2_5", "pm10", "no2", "o3", "water_level_cm", "rainfall_mm", "temperature_c",
           "humidity_pct", "noise_db"}


def _ts(value: object) -> datetime | None:
    if not isinstance(value, str) or "T" not in value.upper():
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


def _str(data: dict, *names: str) -> bool:
    return all(isinstance(data.get(n), str) and 0 < len(data[n]) <= 64 for n in names)


def area_of(data: dict, areas: set[str]) -> str | None:
    """The unit an event names, as the geography writes its code: ``area`` or ``district``
    (equal if both), digits compared as numbers ("011560" is "11560"); None when none."""
    given = {data[name] for name in ("area", "district") if name in data}
    if len(given) != 1:
        return None
    (code,) = given
    if not isinstance(code, str):
        return None
    if code in areas:
        return code
    if code.isdigit():
        return next((a for a in areas if a.isdigit() and int(a) == int(code)), None)
    return None


def acceptable(event: object, areas: set[str], now: datetime,
               lateness: timedelta = timedelta(days=7)) -> bool:
    """Would the contract accept this event (ignoring duplicates)?"""
    if not isinstance(event, dict) or event.get("specversion") != "1.0":
        return False
    eid, source, data = event.get("id"), event.get("source"), event.get("data")
    if not (isinstance(eid, str) and 1 <= len(eid) <= 128 and eid.isprintable()):
        return False
    if not (isinstance(source, str) and 1 <= len(source) <= 64
            and all(c in "abcdefghijklmnopqrstuvwxyz0123456789._-" for c in source)):
        return False
    time = _ts(event.get("time"))
    if time is None or not isinstance(data, dict):
        return False
    if time > now + timedelta(minutes=5) or time < now - lateness:
        return False
    if area_of(data, areas) is None:
        return False
    kind = event.get("type")
    if kind == "dossier.received":
        due = _ts(data.get("due_at"))
        fee = data.get("fee_vnd", 0)
        return (_str(data, "dossier_id", "service_code", "agency_code")
                and data.get("channel") in CHANNELS and data.get("service_level") in LEVELS
                and due is not None and due > time
                and _flags(data, "digitized", "synced_national", "fee_paid_online")
                and type(fee) is int and 0 <= fee <= 10**15)
    if kind == "dossier.resolved":
        return (_str(data, "dossier_id", "service_code", "agency_code")
                and _ts(data.get("due_at")) is not None and _flags(data, "result_digitized"))
    if kind == "dossier.rated":
        return _str(data, "dossier_id", "agency_code") and type(data.get("satisfied")) is bool
    if kind == "feedback.received":  # (unlike a dossier's, its due date may have passed)
        return _str(data, "feedback_id", "agency_code") and _ts(data.get("due_at")) is not None
    if kind == "feedback.resolved":  # satisfied: true, false, or absent or null (no verdict)
        return (_str(data, "feedback_id", "agency_code") and _ts(data.get("due_at")) is not None
                and data.get("satisfied") in (None, True, False)
                and type(data.get("satisfied")) in (bool, type(None)))
    if kind == "dossier.withdrawn":
        return _str(data, "dossier_id")
    if kind == "payment.completed":
        amount = data.get("amount_vnd")
        return (_str(data, "payment_id") and type(amount) is int and amount > 0
                and data.get("method") in METHODS and data.get("purpose") in PURPOSES)
    if kind == "sensor.reading":
        value = data.get("value")
        return (_str(data, "station_id") and data.get("metric") in METRICS
                and isinstance(value, int | Decimal) and not isinstance(value, bool))
    return False


def _flags(data: dict, *names: str) -> bool:
    """Optional booleans: absent, or true or false (not 1, not "yes")."""
    return all(type(data.get(n, False)) is bool for n in names)


def _bucket(time: datetime, size: str) -> datetime:
    local = time.astimezone(TZ)
    if size == "1m":
        local = local.replace(second=0, microsecond=0)
    elif size == "1h":
        local = local.replace(minute=0, second=0, microsecond=0)
    else:
        local = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return local


def rejected_count(raw_events: list[bytes], areas: set[str], now: datetime) -> int:
    """How many records the contract rejects (invalid, unknown, out of time limits)."""
    count = 0
    for raw in raw_events:
        try:
            # numbers with a fraction parse as the exact decimals written; NaN and
            # Infinity stay floats and are refused below
            event = json.loads(raw.decode("utf-8"), parse_float=Decimal)
        except (UnicodeDecodeError, ValueError):
            count += 1
            continue
        count += not acceptable(event, areas, now)
    return count


def accepted_events(raw_events: list[bytes], areas: set[str], now: datetime) -> list[dict]:
    seen: set[tuple[str, str]] = set()
    out = []
    for raw in raw_events:
        try:
            # numbers with a fraction parse as the exact decimals written; NaN and
            # Infinity stay floats and are refused below
            event = json.loads(raw.decode("utf-8"), parse_float=Decimal)
        except (UnicodeDecodeError, ValueError):
            continue
        if not acceptable(event, areas, now):
            continue
        key = (event["source"], event["id"])
        if key in seen:
            continue
        seen.add(key)
        data = {k: v for k, v in event["data"].items() if k != "district"}
        data["area"] = area_of(event["data"], areas)
        out.append({**event, "data": data})
    return out


Expected = dict[tuple[str, str, str, datetime], list[int]]
"""(kpi, area or '', bucket size, local bucket start) -> [numerator, denominator]"""


def expected_cells(events: list[dict]) -> Expected:
    cells: Expected = defaultdict(lambda: [0, 0])

    def add(kpi: str, area: str, time: datetime, num: int, den: int) -> None:
        for size in ("1m", "1h", "1d"):
            for scope in ("", area):
                cell = cells[(kpi, scope, size, _bucket(time, size))]
                cell[0] += num
                cell[1] += den

    for ev in events:
        data, time, kind = ev["data"], datetime.fromisoformat(ev["time"]), ev["type"]
        d = data["area"]
        if kind == "dossier.received":
            online = data["channel"] == "online"
            add("dossier.received", d, time, 1, 0)
            add("dossier.full_online_rate", d, time,
                1 if online and data["service_level"] == "full_online" else 0, 1)
        elif kind == "dossier.resolved":
            on_time = 1 if time <= datetime.fromisoformat(data["due_at"]) else 0
            add("dossier.resolved", d, time, 1, 0)
            add("dossier.resolved_on_time", d, time, on_time, 0)
        elif kind == "dossier.rated":
            add("dossier.rated", d, time, 1, 0)
        elif kind == "feedback.received":
            add("feedback.received", d, time, 1, 0)
        elif kind == "feedback.resolved":
            add("feedback.resolved", d, time, 1, 0)
        elif kind == "payment.completed":
            amount = data["amount_vnd"]
            non_cash = data["method"] != "cash"
            add("payment.count", d, time, 1, 0)
            add("payment.value_vnd", d, time, amount, 0)
            add("payment.non_cash_rate", d, time, 1 if non_cash else 0, 1)
            add("payment.non_cash_value_rate", d, time, amount if non_cash else 0, amount)
        for kpi, (num, den) in index_ratios(ev).items():
            add(kpi, d, time, num, den)
    return cells


def index_ratios(ev: dict) -> dict[str, tuple[int, int]]:
    """What one accepted event adds to the ratios the service index uses (kpis.md), as
    (numerator, denominator); a ratio whose denominator it does not touch is left out."""
    data, kind = ev["data"], ev["type"]
    late = "due_at" in data and datetime.fromisoformat(ev["time"]) > datetime.fromisoformat(data["due_at"])
    out: dict[str, tuple[int, int]] = {}
    if kind == "dossier.received":
        out["dossier.online_rate"] = (int(data["channel"] == "online"), 1)
        out["dossier.synced_rate"] = (int(data.get("synced_national", False)), 1)
        out["dossier.digitized_rate"] = (int(data.get("digitized", False)), 1)
        if data.get("fee_vnd", 0) > 0:
            out["dossier.fee_online_rate"] = (int(data.get("fee_paid_online", False)), 1)
    elif kind == "dossier.resolved":
        out["dossier.on_time_rate"] = (int(not late), 1)
        out["dossier.result_digitized_rate"] = (int(data.get("result_digitized", False)), 1)
    elif kind == "dossier.rated":
        out["dossier.satisfied_rate"] = (int(data["satisfied"]), 1)
    elif kind == "feedback.resolved":
        out["feedback.on_time_rate"] = (int(not late), 1)
        out["feedback.satisfied_rate"] = (int(not late and data.get("satisfied") is not False), 1)
    return out


def expected_agency_ratios(events: list[dict]) -> dict[tuple[str, str, str, datetime], list[int]]:
    """(ratio kpi, agency_code, bucket size, local start) -> [numerator, denominator] for the
    ratios the service index uses, by agency (province-wide; kept per day only)."""
    out: dict[tuple[str, str, str, datetime], list[int]] = defaultdict(lambda: [0, 0])
    for ev in events:
        if "agency_code" not in ev["data"]:
            continue
        time = datetime.fromisoformat(ev["time"])
        for kpi, (num, den) in index_ratios(ev).items():
            cell = out[(kpi, ev["data"]["agency_code"], "1d", _bucket(time, "1d"))]
            cell[0] += num
            cell[1] += den
    return dict(out)


SensorExpected = dict[tuple[str, str, str, str, str, datetime], float | int]
"""(kpi, metric, area or '', station_id or '', bucket size, local start) -> value"""


def expected_sensor_values(events: list[dict]) -> SensorExpected:
    """sensor.avg/min/max/readings per metric: province-wide, per area and per station."""
    groups: dict[tuple[str, str, str, str, datetime], list[Decimal]] = defaultdict(list)
    for ev in events:
        if ev["type"] != "sensor.reading":
            continue
        data, time = ev["data"], datetime.fromisoformat(ev["time"])
        value = Decimal(data["value"])
        for size in ("1m", "1h", "1d"):
            for area, station in (("", ""), (data["area"], ""), ("", data["station_id"])):
                groups[(data["metric"], area, station, size, _bucket(time, size))].append(value)
    out: SensorExpected = {}
    for (metric, area, station, size, start), values in groups.items():
        key = (metric, area, station, size, start)
        out[("sensor.readings", *key)] = len(values)
        out[("sensor.avg", *key)] = float(sum(values, Decimal(0)) / len(values))
        out[("sensor.min", *key)] = float(min(values))
        out[("sensor.max", *key)] = float(max(values))
    return out


def expected_gauges(events: list[dict], t: datetime) -> dict[tuple[str, str], int]:
    """dossier.open, dossier.overdue_open, dossier.due_soon, feedback.open and
    feedback.overdue_open at instant t, by the catalogue's definition: a receipt at or
    before t and no closing (dossier: resolution or withdrawal; feedback: resolution) at or
    before t; the area and due date of the earliest receipt."""
    out: dict[tuple[str, str], int] = defaultdict(int)
    for kind, item_key, closing in (("dossier", "dossier_id", ("dossier.resolved", "dossier.withdrawn")),
                                    ("feedback", "feedback_id", ("feedback.resolved",))):
        receipts: dict[str, list[tuple[datetime, str, datetime]]] = defaultdict(list)
        closings: dict[str, list[datetime]] = defaultdict(list)
        for ev in events:
            data, time = ev["data"], datetime.fromisoformat(ev["time"])
            if ev["type"] == f"{kind}.received":
                receipts[data[item_key]].append((time, data["area"],
                                                 datetime.fromisoformat(data["due_at"])))
            elif ev["type"] in closing:
                closings[data[item_key]].append(time)
        for item, items in receipts.items():
            seen = [r for r in items if r[0] <= t]
            if not seen or any(c <= t for c in closings.get(item, [])):
                continue
            _, area, due = min(items)
            for scope in ("", area):
                out[(f"{kind}.open", scope)] += 1
                if due < t:
                    out[(f"{kind}.overdue_open", scope)] += 1
                if kind == "dossier" and t < due <= t + timedelta(hours=24):
                    out[("dossier.due_soon", scope)] += 1
    return dict(out)


def expected_silent(events: list[dict], t: datetime,
                    silence: timedelta = timedelta(minutes=10)) -> dict[tuple[str, str], int]:
    """sensor.stations_silent at t: stations with a reading in the 24 h before t and none in
    the silence window before t ("in the D before t": t - D < time <= t). A station belongs
    to the area of its latest reading (the smallest code on a tie)."""
    latest: dict[str, tuple[datetime, str]] = {}
    for ev in events:
        if ev["type"] != "sensor.reading":
            continue
        time, station, area = (datetime.fromisoformat(ev["time"]), ev["data"]["station_id"],
                                   ev["data"]["area"])
        if not (t - timedelta(hours=24) < time <= t):
            continue
        candidates = [c for c in (latest.get(station), (time, area)) if c]
        # the latest reading; on equal times the smaller area code
        latest[station] = min(candidates, key=lambda c: (-c[0].timestamp(), c[1]))
    out: dict[tuple[str, str], int] = defaultdict(int)
    for time, area in latest.values():
        if time <= t - silence:
            out[("sensor.stations_silent", "")] += 1
            out[("sensor.stations_silent", area)] += 1
    return dict(out)


DAY_ONLY = {"dossier.rated", "feedback.received", "feedback.resolved"}
"""Version 2's counters by agency: per day only (kpis.md)."""
V1_BY_AGENCY = ("dossier.received", "dossier.resolved", "dossier.resolved_on_time")
"""The counters whose breakdown by agency is kept at every bucket size."""
BREAKDOWNS = {
    "dossier.received": ("agency_code", "channel", "service_level"),
    "dossier.resolved": ("agency_code",),
    "dossier.resolved_on_time": ("agency_code",),
    "dossier.rated": ("agency_code",),
    "feedback.received": ("agency_code",),
    "feedback.resolved": ("agency_code",),
    "payment.count": ("method",),
    "payment.value_vnd": ("method",),
}


def expected_breakdowns(events: list[dict]) -> dict[tuple[str, str, str, str, str, datetime], int]:
    """(kpi, '' (the province: breakdowns are province-wide), dimension, value, bucket size,
    local start) -> count or sum."""
    out: dict[tuple[str, str, str, str, str, datetime], int] = defaultdict(int)
    for ev in events:
        data, time, kind = ev["data"], datetime.fromisoformat(ev["time"]), ev["type"]
        contributions: list[tuple[str, int]] = []
        if kind == "dossier.received":
            contributions = [("dossier.received", 1)]
        elif kind == "dossier.resolved":
            on_time = time <= datetime.fromisoformat(data["due_at"])
            contributions = [("dossier.resolved", 1), ("dossier.resolved_on_time", int(on_time))]
        elif kind in ("dossier.rated", "feedback.received", "feedback.resolved"):
            contributions = [(kind, 1)]
        elif kind == "payment.completed":
            contributions = [("payment.count", 1), ("payment.value_vnd", data["amount_vnd"])]
        for kpi, amount in contributions:
            # province-wide only; version 2's counters by agency per day only (kpis.md)
            sizes = ("1d",) if kpi in DAY_ONLY else ("1m", "1h", "1d")
            for dim in BREAKDOWNS[kpi]:
                for size in sizes:
                    out[(kpi, "", dim, data[dim], size, _bucket(time, size))] += amount
    return dict(out)
