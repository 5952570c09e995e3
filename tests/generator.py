"""Generated event streams with duplicates, late, out-of-order and invalid events."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta

AREAS = ["288", "290", "291", "292", "293", "294", "295", "296", "297", "298", "299", "300"]


def _event(kind: str, eid: str, time: datetime, data: dict, source: str = "gen.test") -> dict:
    return {"specversion": "1.0", "id": eid, "source": source, "type": kind,
            "time": time.isoformat(), "datacontenttype": "application/json", "data": data}


def spelled(data: dict, n: int) -> dict:
    """The area as integrators write it (events.md): ``area``, its v1 name ``district``, or
    both; now and then with a leading zero too many (the same code). Chosen by ``n``, so a
    stream's random draws do not depend on it."""
    code = data.pop("area")
    if n % 7 == 3:
        code = "0" + code
    if n % 5 == 1:
        data["district"] = code
    elif n % 11 == 4:
        data["area"] = data["district"] = code
    else:
        data["area"] = code
    return data


def valid_event(rng: random.Random, n: int, time: datetime, areas: list[str] = AREAS) -> dict:
    event = _valid_event(rng, n, time, areas)
    spelled(event["data"], n)
    return event


def _valid_event(rng: random.Random, n: int, time: datetime, areas: list[str]) -> dict:
    area = rng.choice(areas)
    roll = rng.random()
    if roll < 0.3:
        data = {
            "dossier_id": f"D{n}", "service_code": f"S{rng.randrange(20)}",
            "agency_code": f"A{rng.randrange(5)}", "area": area,
            "channel": rng.choice(["online", "online", "online", "counter", "postal"]),
            "service_level": rng.choice(["full_online", "partial_online", "offline"]),
            "due_at": (time + timedelta(days=rng.randint(1, 10))).isoformat()}
        _maybe(rng, data, "digitized", "synced_national", "fee_paid_online")
        if rng.random() < 0.6:
            data["fee_vnd"] = rng.choice([0, 0, 50_000, 100_000, 1_500_000])
        return _event("dossier.received", f"r-{n}", time, data)
    if roll < 0.5:
        data = {"dossier_id": f"D{rng.randrange(n + 1)}", "service_code": "S1",
                "agency_code": f"A{rng.randrange(5)}", "area": area,
                "due_at": (time + timedelta(hours=rng.randint(-48, 48))).isoformat()}
        _maybe(rng, data, "result_digitized")
        return _event("dossier.resolved", f"s-{n}", time, data)
    if roll < 0.54:
        return _event("dossier.withdrawn", f"w-{n}", time,
                      {"dossier_id": f"D{rng.randrange(n + 1)}", "area": area})
    if roll < 0.6:
        return _event("dossier.rated", f"q-{n}", time, {
            "dossier_id": f"D{rng.randrange(n + 1)}", "agency_code": f"A{rng.randrange(5)}",
            "area": area, "satisfied": rng.random() < 0.8})
    if roll < 0.66:
        return _event("feedback.received", f"f-{n}", time, {  # now and then already overdue
            "feedback_id": f"F{n}", "agency_code": f"A{rng.randrange(5)}", "area": area,
            "due_at": (time + timedelta(hours=rng.randint(-12, 240))).isoformat()})
    if roll < 0.72:
        data = {"feedback_id": f"F{rng.randrange(n + 1)}", "agency_code": f"A{rng.randrange(5)}",
                "area": area, "due_at": (time + timedelta(hours=rng.randint(-48, 48))).isoformat()}
        roll = rng.random()
        if roll < 0.7:
            data["satisfied"] = rng.random() < 0.75
        elif roll < 0.75:
            data["satisfied"] = None  # no verdict, said explicitly
        return _event("feedback.resolved", f"g-{n}", time, data)
    if roll < 0.9:
        return _event("payment.completed", f"p-{n}", time, {
            "payment_id": f"P{n}", "area": area,
            "amount_vnd": rng.randint(1, 5000) * 1000,
            "method": rng.choice(["cash", "card", "bank_transfer", "e_wallet", "qr"]),
            "purpose": rng.choice(["fee", "tax", "utility", "other"])})
    return _event("sensor.reading", f"x-{n}", time, {
        "station_id": f"ST{rng.randrange(6)}", "area": area,
        "metric": rng.choice(["pm2_5", "pm10", "noise_db"]), "value": round(rng.uniform(0, 90), 2)})


def _maybe(rng: random.Random, data: dict, *flags: str) -> None:
    """Optional booleans: absent (false), or given as true or false."""
    for flag in flags:
        roll = rng.random()
        if roll < 0.6:
            data[flag] = True
        elif roll < 0.8:
            data[flag] = False


def invalid_record(rng: random.Random, n: int, now: datetime) -> bytes:
    kind = rng.randrange(10)
    base = valid_event(rng, 10_000_000 + n, now - timedelta(minutes=5))
    if kind == 0:
        return b"{not json"
    if kind == 1:
        return b"\xff\xfe\x00garbage"
    if kind == 2:
        base["type"] = "dossier.teleported"
    elif kind == 3:
        base["data"]["area"] = "999"
    elif kind == 4:
        base["time"] = (now + timedelta(hours=2)).isoformat()
    elif kind == 5:
        base["time"] = (now - timedelta(days=9)).isoformat()
    elif kind == 6:
        base.pop("specversion")
    elif kind == 8:
        base["type"] = "dossier.rated"
        base["data"] = {"dossier_id": "D1", "agency_code": "A1", "area": AREAS[0], "satisfied": "yes"}
    elif kind == 9:
        base["type"] = "feedback.resolved"
        base["data"] = {"feedback_id": "F1", "agency_code": "A1", "area": AREAS[0],
                        "due_at": now.isoformat(), "satisfied": 1}  # a number, not a boolean
    else:
        base["time"] = "2026-01-01 10:00"  # no offset
    return json.dumps(base).encode()


def generate_stream(seed: int, now: datetime, count: int, *, invalid_share: float = 0.03,
                    duplicate_share: float = 0.05, areas: list[str] = AREAS) -> list[bytes]:
    """``count`` valid events spread over the last 3 days (so many arrive late, in shuffled
    order), plus duplicates re-sent later and invalid records."""
    rng = random.Random(seed)
    events = []
    for n in range(count):
        age = timedelta(seconds=rng.uniform(60, 3 * 86400)) if rng.random() < 0.4 else \
            timedelta(seconds=rng.uniform(60, 3600))
        events.append(valid_event(rng, n, now - age, areas))
    rng.shuffle(events)  # out of order
    records = [json.dumps(e, ensure_ascii=False).encode() for e in events]
    for _ in range(int(count * duplicate_share)):
        original = rng.choice(events)
        dup = dict(original)
        if rng.random() < 0.5:  # same (source, id), different content: still a duplicate
            dup = json.loads(json.dumps(original))
            dup["time"] = (now - timedelta(minutes=1)).isoformat()
        records.insert(rng.randrange(len(records) + 1), json.dumps(dup).encode())
    for n in range(int(count * invalid_share)):
        records.insert(rng.randrange(len(records) + 1), invalid_record(rng, n, now))
    return records
