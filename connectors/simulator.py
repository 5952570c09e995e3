"""A realistic, deterministic simulator of the province's event streams.

Given a seed, the geography (and its agencies) and the instants it is asked about, it
produces the same events every time. Dossiers follow office hours (online filing goes on
around the clock), about 89% are filed online, services are a mix of full and partial
online, due dates lie days ahead and most resolutions are on time; payments mix cash and
non-cash; every sensor station reports each of its metrics once a minute.

In a two-tier geography (since 2025) units differ in volume, services are handled by the
deployment's agencies (a commune's UBND only for its own unit) and stations stand in a
subset of units (connectors/sim_traffic.py). The historic profile (12 districts) keeps its
original rules, and so the very same output for a seed.

In a two-tier geography the events also carry what the service index needs
(connectors/sim_citizens.py): dossiers synchronised to the national portal, digitised,
with fees paid online; results digitised; citizens' ratings of resolved dossiers; and
citizen feedback (phản ánh, kiến nghị) received and resolved. Those draws use their own
random stream, so the rest of the output is the same with or without them.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.sim_citizens import Citizens
from connectors.sim_traffic import AIR, WATER, Service, Station, TrafficPlan, poisson
from ioc.events import to_cloudevent
from ioc.geography import HISTORIC, Geography
from ioc.geography.agencies import Agencies, load_agencies

_METHODS = (("cash", 0.33), ("bank_transfer", 0.25), ("qr", 0.22), ("e_wallet", 0.12), ("card", 0.08))
_PURPOSES = (("fee", 0.5), ("utility", 0.25), ("tax", 0.2), ("other", 0.05))
__all__ = ["OpenDossier", "Service", "Simulator", "Station"]


@dataclass(slots=True)
class OpenDossier:
    dossier_id: str
    service: Service
    agency_code: str
    area: str
    due_at: datetime


def _pick(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([w[0] for w in weighted], [w[1] for w in weighted])[0]


class Simulator:
    def __init__(self, geography: Geography, *, seed: int, source: str, rate: float,
                 start: datetime, agencies: Agencies | None = None) -> None:
        """``agencies``: the deployment's (default: the shipped list for the geography)."""
        self._geo = geography
        self._rng = random.Random(seed)
        self._source = source
        self._rate = rate
        self._tz = geography.tz
        self._run = format(int(start.timestamp()), "x")
        self._seq = 0
        self._open: list[OpenDossier] = []
        rng = self._rng
        self._plan: TrafficPlan | None = None
        self._citizens: Citizens | None = None
        if geography.profile != HISTORIC:
            self._plan = TrafficPlan(
                geography, agencies if agencies is not None else load_agencies(geography),
                seed=seed, rng=rng)
            self.services, self.stations = self._plan.services, self._plan.stations
            self._citizens = Citizens(seed, self._run)
            return
        self.services = tuple(
            Service(f"1.{rng.randrange(1000, 14000):06d}.000.00.00.H23",
                    _pick(rng, (("full_online", 0.3), ("partial_online", 0.5), ("offline", 0.2))),
                    rng.choice((1, 2, 3, 5, 7, 10, 15)))
            for _ in range(80))
        codes = [d.code for d in geography.units]
        # The provincial city and towns file more than rural areas.
        self._area_weights = [3.0 if i < 2 else 2.0 if i == 3 else 1.0 for i in range(len(codes))]
        self._areas = codes
        self.stations = tuple(
            Station(f"ST-{code}-{kind}", code, AIR if kind == "AQ" else WATER)
            for i, code in enumerate(codes) for kind in (("AQ", "WL") if i % 3 == 0 else ("AQ",)))

    # -- intensity ---------------------------------------------------------------------
    def _office_hours(self, t: datetime) -> bool:
        local = t.astimezone(self._tz)
        minutes = local.hour * 60 + local.minute
        return local.weekday() < 5 and (450 <= minutes < 690 or 780 <= minutes < 1020)

    def _profile(self, t: datetime) -> tuple[float, float]:
        """(online, at-the-counter) intensity multipliers at ``t``."""
        local = t.astimezone(self._tz)
        hour = local.hour + local.minute / 60
        online = 0.35 + 0.9 * math.exp(-((hour - 10.5) ** 2) / 18) + 0.5 * math.exp(-((hour - 20) ** 2) / 8)
        counter = 1.0 if self._office_hours(t) else 0.0
        return online, counter

    # -- events ------------------------------------------------------------------------
    def _event(self, type_: str, event_id: str, time: datetime, data: dict[str, Any]) -> dict[str, Any]:
        return to_cloudevent(source=self._source, event_id=event_id, type_=type_,
                             time=time.astimezone(self._tz), data=data)

    def _next_id(self, prefix: str, area: str) -> str:
        self._seq += 1
        return f"{prefix}-{area}-{self._run}-{self._seq:07d}"

    def _pick_area(self) -> str:
        if self._plan is not None:
            return self._plan.pick_area(self._rng)
        return self._rng.choices(self._areas, self._area_weights)[0]

    def _receive(self, t: datetime, counter_open: bool) -> dict[str, Any]:
        rng = self._rng
        area = self._pick_area()
        service = rng.choice(self.services)
        if service.level == "full_online":
            channel = "online" if rng.random() < 0.98 else "counter"
        elif counter_open:
            channel = _pick(rng, (("online", 0.84), ("counter", 0.13), ("postal", 0.03)))
        else:
            channel = "online"
        if channel != "online" and not counter_open:
            channel = "online"
        if self._plan is not None:
            agency = self._plan.agency(service, area)
        else:
            departments = ("TP", "TNMT", "KHDT", "GTVT", "LDTBXH")
            agency = f"UBND-{area}" if rng.random() < 0.7 else f"SO-{rng.choice(departments)}"
        due = (t + timedelta(days=service.days)).astimezone(self._tz).replace(
            hour=17, minute=0, second=0, microsecond=0)
        dossier = OpenDossier(self._next_id("HS", area), service, agency, area, due)
        self._open.append(dossier)
        data: dict[str, Any] = {
            "dossier_id": dossier.dossier_id, "service_code": service.code,
            "agency_code": agency, "area": area, "channel": channel,
            "service_level": service.level, "due_at": due.isoformat(),
        }
        if self._citizens is not None:
            data.update(self._citizens.receipt_fields(service, channel))
        return self._event("dossier.received", f"{dossier.dossier_id}-recv", t, data)

    def _resolve(self, t: datetime) -> dict[str, Any] | None:
        if not self._open:
            return None
        rng = self._rng
        overdue = [i for i, d in enumerate(self._open[:200]) if d.due_at < t]
        if overdue and rng.random() < 0.06:
            index = rng.choice(overdue)
        else:
            index = rng.randrange(min(len(self._open), 400))
        dossier = self._open.pop(index)
        if rng.random() < 0.015:
            return self._event("dossier.withdrawn", f"{dossier.dossier_id}-wd", t, {
                "dossier_id": dossier.dossier_id, "area": dossier.area})
        data: dict[str, Any] = {
            "dossier_id": dossier.dossier_id, "service_code": dossier.service.code,
            "agency_code": dossier.agency_code, "area": dossier.area,
            "due_at": dossier.due_at.isoformat(),
        }
        if self._citizens is not None:
            data.update(self._citizens.resolution_fields())
            self._citizens.resolved(dossier, t)
        return self._event("dossier.resolved", f"{dossier.dossier_id}-res", t, data)

    def _payment(self, t: datetime) -> dict[str, Any]:
        rng = self._rng
        area = self._pick_area()
        purpose = _pick(rng, _PURPOSES)
        low, high = {"fee": (10, 500), "utility": (100, 2_000), "tax": (100, 20_000),
                     "other": (20, 1_000)}[purpose]
        amount = rng.randint(low, high) * 1000
        payment_id = self._next_id("TT", area)
        data: dict[str, Any] = {"payment_id": payment_id, "area": area,
                                "amount_vnd": amount, "method": _pick(rng, _METHODS),
                                "purpose": purpose}
        if purpose == "fee":
            data["service_code"] = rng.choice(self.services).code
        return self._event("payment.completed", f"{payment_id}-paid", t, data)

    def _reading(self, station: Station, metric: str, minute: datetime) -> dict[str, Any]:
        rng = self._rng
        local = minute.astimezone(self._tz)
        hour = local.hour + local.minute / 60
        wave = math.sin((hour - 8) / 24 * 2 * math.pi)
        base = {"pm2_5": 38 + 15 * wave, "pm10": 60 + 20 * wave, "no2": 25 + 10 * wave,
                "o3": 45 - 15 * wave, "temperature_c": 26 + 5 * wave, "humidity_pct": 75 - 12 * wave,
                "noise_db": 55 + 10 * wave, "water_level_cm": 180 + 6 * wave,
                "rainfall_mm": 0.0}[metric]
        noise = rng.gauss(0, 0.08 * max(abs(base), 1))
        value = max(0.0, round(base + noise, 1))
        if metric == "rainfall_mm":
            value = round(max(0.0, rng.gauss(-2, 1.5)), 1)
        t = minute + timedelta(seconds=rng.uniform(0, 5))
        return self._event("sensor.reading", f"{station.station_id}-{metric}-{int(minute.timestamp())}",
                           t, {"station_id": station.station_id, "area": station.area,
                               "metric": metric, "value": value})

    def backlog(self, now: datetime, days: int) -> list[dict[str, Any]]:
        """Dossiers received over the past ``days`` and still open: the backlog at start."""
        if days <= 0:
            return []
        count = int(self._rate * 60)
        span = days * 86400
        times = sorted(now - timedelta(seconds=self._rng.uniform(600, span)) for _ in range(count))
        return [self._receive(t, self._office_hours(t)) for t in times]

    def between(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Every event with time in [start, end), in time order."""
        out: list[tuple[datetime, dict[str, Any]]] = []
        rng = self._rng
        step = timedelta(seconds=1)
        t = start
        while t < end:
            slice_end = min(t + step, end)
            width = (slice_end - t).total_seconds()
            online, counter = self._profile(t)
            dossier_mean = self._rate * 0.5 * width * (online + counter) / 1.6
            for _ in range(poisson(rng, dossier_mean)):
                at = t + timedelta(seconds=rng.uniform(0, width))
                out.append((at, self._receive(at, counter > 0)))
            for _ in range(poisson(rng, dossier_mean * 0.9)):
                at = t + timedelta(seconds=rng.uniform(0, width))
                resolved = self._resolve(at)
                if resolved is not None:
                    out.append((at, resolved))
            for _ in range(poisson(rng, self._rate * 0.5 * width * (0.4 + 0.6 * counter))):
                at = t + timedelta(seconds=rng.uniform(0, width))
                out.append((at, self._payment(at)))
            if self._citizens is not None and self._plan is not None:
                for at, event_id, type_, data in self._citizens.between(
                        t, slice_end, dossier_mean, self._plan):
                    out.append((at, self._event(type_, event_id, at, data)))
            t = slice_end
        for minute in _minutes(start, end):
            for station in self.stations:
                for metric in station.metrics:
                    reading = self._reading(station, metric, minute)
                    out.append((minute, reading))
        out.sort(key=lambda pair: pair[0])
        return [event for _, event in out]


def _minutes(start: datetime, end: datetime) -> Iterator[datetime]:
    """Whole minutes in [start, end)."""
    first = datetime.fromtimestamp(math.ceil(start.timestamp() / 60) * 60, UTC)
    while first < end:
        yield first
        first += timedelta(minutes=1)
