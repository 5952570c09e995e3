"""What the soak sends: events with unique ids, some resent, some late, some invalid; payment
webhook deliveries; malformed input that must never count; probe events. Pure and seeded: the
time of each event is computed from the ``now`` passed in."""

from __future__ import annotations

import json
import random
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ioc.events import to_cloudevent

CHANNELS = (("online", 0.7), ("counter", 0.25), ("postal", 0.05))
LEVELS = ("full_online", "partial_online", "offline")
METHODS = (("cash", 0.33), ("bank_transfer", 0.25), ("qr", 0.22), ("e_wallet", 0.12), ("card", 0.08))
PURPOSES = ("fee", "tax", "utility", "other")
TYPES = (("dossier.received", 0.5), ("payment.completed", 0.35), ("dossier.resolved", 0.15))
LATE_SHARE = 0.1
DUPLICATE_SHARE = 0.03
INVALID_SHARE = 0.01
PROBE_AGE = timedelta(days=6)
"""Probe events lie in one minute this long ago, which no load event uses (late load events
are at most five days old), so a probe's arrival in the KPIs can be seen on its own."""


def _pick(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([w[0] for w in weighted], [w[1] for w in weighted])[0]


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds")


@dataclass(frozen=True, slots=True)
class Sent:
    event: dict[str, Any]
    valid: bool
    """False: made invalid on purpose, must be rejected."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """A payment-gateway webhook delivery and the event it becomes."""
    body: dict[str, Any]
    event: dict[str, Any]
    valid: bool = True


class Load:
    def __init__(self, areas: Sequence[str], *, seed: int, run: str, source: str) -> None:
        self._areas = list(areas)
        self._rng = random.Random(seed)
        self._run = run
        self._source = source
        self._seq = 0
        self._recent: deque[dict[str, Any]] = deque(maxlen=2000)
        self._recent_payments: deque[Delivery] = deque(maxlen=500)

    def _id(self, prefix: str) -> str:
        self._seq += 1
        return f"{prefix}-{self._run}-{self._seq}"

    def _time(self, now: datetime) -> datetime:
        rng = self._rng
        if rng.random() < LATE_SHARE:
            return now - timedelta(seconds=rng.uniform(3600, 5 * 86400))
        return now - timedelta(seconds=rng.uniform(0, 30))

    def event(self, kind: str, at: datetime, area: str) -> dict[str, Any]:
        """A valid event of ``kind`` at ``at``."""
        rng = self._rng
        eid = self._id("ev")
        data: dict[str, Any]
        if kind == "dossier.received":
            data = {"dossier_id": eid, "service_code": f"S{rng.randrange(20):03d}",
                    "agency_code": f"A{rng.randrange(8):02d}", "area": area,
                    "channel": _pick(rng, CHANNELS), "service_level": rng.choice(LEVELS),
                    "due_at": _iso(at + timedelta(days=5)), "digitized": rng.random() < 0.6,
                    "fee_vnd": rng.choice((0, 0, 50_000, 100_000)), "fee_paid_online": rng.random() < 0.5}
        elif kind == "payment.completed":
            data = {"payment_id": eid, "area": area, "amount_vnd": rng.randrange(1_000, 2_000_000),
                    "method": _pick(rng, METHODS), "purpose": rng.choice(PURPOSES)}
        else:  # dossier.resolved: on time four times in five
            due = at + timedelta(days=2) if rng.random() < 0.8 else at - timedelta(days=1)
            data = {"dossier_id": eid, "service_code": f"S{rng.randrange(20):03d}",
                    "agency_code": f"A{rng.randrange(8):02d}", "area": area, "due_at": _iso(due)}
        return to_cloudevent(source=self._source, event_id=eid, type_=kind, time=_iso(at), data=data)

    def batch(self, size: int, now: datetime) -> list[Sent]:
        """``size`` events: mostly new, some resent (same source and id), late or invalid."""
        rng = self._rng
        out: list[Sent] = []
        for _ in range(size):
            roll = rng.random()
            if roll < DUPLICATE_SHARE and self._recent:
                out.append(Sent(rng.choice(self._recent), True))
                continue
            event = self.event(_pick(rng, TYPES), self._time(now), rng.choice(self._areas))
            if roll > 1 - INVALID_SHARE:
                out.append(Sent(_spoil(event, rng), False))
                continue
            self._recent.append(event)
            out.append(Sent(event, True))
        return out

    def delivery(self, now: datetime, source: str) -> Delivery:
        """A webhook delivery: a new payment, or now and then a gateway retry of an earlier one."""
        rng = self._rng
        if rng.random() < DUPLICATE_SHARE and self._recent_payments:
            return rng.choice(self._recent_payments)
        event = self.event("payment.completed", self._time(now), rng.choice(self._areas))
        if rng.random() < INVALID_SHARE:  # an area the connector maps but the contract refuses
            event["data"]["area"] = "99999"
            made = payment_delivery(event, source, self._id("whevt"), int(now.timestamp()))
            return Delivery(made.body, made.event, False)
        made = payment_delivery(event, source, self._id("whevt"), int(now.timestamp()))
        self._recent_payments.append(made)
        return made

    def malformed_batch(self, size: int, now: datetime) -> list[dict[str, Any]]:
        """Events each of which the contract rejects (bad types, unknown area, times, ...)."""
        rng = self._rng
        out = []
        for _ in range(size):
            event = self.event(_pick(rng, TYPES), now, rng.choice(self._areas))
            out.append(_spoil(event, rng, every=True))
        return out

    def malformed_body(self, now: datetime) -> tuple[bytes, str]:
        """A request body (and content type) that is not a readable event at all."""
        rng = self._rng
        event = self.event("payment.completed", now, rng.choice(self._areas))
        text = json.dumps(event)
        choice = rng.randrange(6)
        if choice == 0:
            return bytes(rng.randrange(256) for _ in range(64)), "application/cloudevents+json"
        if choice == 1:
            return text[: len(text) // 2].encode(), "application/cloudevents+json"
        if choice == 2:
            return text.replace('"amount_vnd": ', '"amount_vnd": NaN, "x": ').encode(), \
                "application/cloudevents+json"
        if choice == 3:
            twice = '"specversion": "1.0", "specversion": "1.0"'  # a duplicate member name
            return text.replace('"specversion": "1.0"', twice).encode(), "application/cloudevents+json"
        if choice == 4:
            return text.encode(), "text/plain"
        return b'"just a string"', "application/cloudevents+json"

    def probe(self, kind: str, now: datetime, tz: Any, source: str) -> dict[str, Any]:
        """A probe event at :func:`probe_minute` (the webhook's: :meth:`probe_delivery`)."""
        return self.event(kind, probe_minute(now, tz), self._areas[0]) | {"source": source}

    def probe_delivery(self, now: datetime, tz: Any, source: str) -> Delivery:
        made = self.event("payment.completed", probe_minute(now, tz), self._areas[0])
        return payment_delivery(made, source, self._id("whevt"), int(now.timestamp()))


def probe_minute(now: datetime, tz: Any) -> datetime:
    """The local minute probes are dated in, fixed for a run started at ``now``."""
    at = (now - PROBE_AGE).astimezone(tz)
    return at.replace(hour=3, minute=33, second=0, microsecond=0)


def payment_delivery(event: dict[str, Any], source: str, delivery_id: str, created: int) -> Delivery:
    """The gateway's webhook body for a payment event, and the event the connector makes of it."""
    data = event["data"]
    body = {"id": delivery_id, "type": "payment.succeeded", "created": created,
            "data": {"transaction_id": data["payment_id"], "amount": data["amount_vnd"],
                     "currency": "VND", "method": data["method"], "purpose": data["purpose"],
                     "area": data["area"], "paid_at": event["time"]}}
    out = {**event, "id": f"pay:{data['payment_id']}", "source": source}
    return Delivery(body, out)


def _spoil(event: dict[str, Any], rng: random.Random, every: bool = False) -> dict[str, Any]:
    """The event made invalid in one of several ways (all must be rejected)."""
    data = dict(event["data"])
    out = {**event, "data": data}
    choice = rng.randrange(10 if every else 3)
    if choice == 0:
        data["area"] = "99999"  # unknown area
    elif choice == 1:
        out["type"] = "dossier.teleported"
    elif choice == 2:
        out["time"] = event["time"][:19]  # no offset
    elif choice == 3:
        out["specversion"] = "0.3"
    elif choice == 4:
        out["time"] = _iso(datetime.fromisoformat(event["time"]) + timedelta(days=2))  # future
    elif choice == 5:
        out["time"] = _iso(datetime.fromisoformat(event["time"]) - timedelta(days=30))  # too old
    elif choice == 6:
        out["data"] = "not an object"
    elif choice == 7:
        out["source"] = "Bad Source!"
    elif choice == 8:
        out["id"] = ""
    else:
        del data["area"]  # a required field missing
    return out
