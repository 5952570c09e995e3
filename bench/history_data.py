"""Days of history as the stream worker would have stored them, generated straight as rows.

The volumes follow :mod:`connectors.simulator` at its rate (``IOC_SIM_RATE``, 10 dossier and
payment events/s by default): dossiers received with the online profile plus office hours,
90% as many resolved, payments with 40% of their rate outside office hours; the province's
traffic plan (:class:`connectors.sim_traffic.TrafficPlan` for the same seed: heavy-tailed unit
weights, services with their levels and agencies, the stations and where they stand);
channels, payment methods and purposes with the simulator's proportions; every station
reporting each of its metrics once a minute.

Rather than events, each minute's tallies (what ``ioc.kpis.counters.event_cells`` groups
events by) are drawn and spread over cells the way that function does; an hour's and a
day's cells come from the sums of their minutes' tallies, so 1h and 1d cells are exactly the
sums of their 1-minute cells. A 1-minute cell exists only where an event of its kind fell
in that minute, as in the worker. Sensor sums are kept in tenths (the simulator's one
decimal), so they stay exact.

Deterministic for a seed; no I/O: each day comes back as COPY text per table.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from connectors.sim_traffic import TrafficPlan, poisson
from ioc.geography import Geography
from ioc.geography.agencies import load_agencies
from ioc.kpis.buckets import Bucket, bucket_start

TABLES = ("kpi_1m", "kpi_1h", "kpi_1d", "sensor_1m", "sensor_1h", "sensor_1d")
KPI_COLUMNS = "kpi, area, dim, dim_value, bucket, num, den"
SENSOR_COLUMNS = "metric, area, station_id, bucket, readings, total, low, high"

_METHODS = (("cash", 0.33), ("bank_transfer", 0.25), ("qr", 0.22), ("e_wallet", 0.12), ("card", 0.08))
_PURPOSES = ((10, 500, 0.5), (100, 2_000, 0.25), (100, 20_000, 0.2), (20, 1_000, 0.05))
ON_TIME = 0.92
"""Share of resolutions on time (the simulator resolves mostly before the due date)."""


def _channel(rng: random.Random, level: str, counter_open: bool) -> str:
    """How a dossier is filed, as the simulator decides it."""
    if not counter_open:
        return "online"
    r = rng.random()
    if level == "full_online":
        return "online" if r < 0.98 else "counter"
    return "online" if r < 0.84 else "counter" if r < 0.97 else "postal"


def _cumulative(weights: list[float]) -> list[float]:
    out, total = [], 0.0
    for w in weights:
        total += w
        out.append(total)
    return out


@dataclass
class Tallies:
    """What a minute's (or an hour's, a day's) counter and ratio cells depend on."""

    received: dict[tuple[str, str, str, str], int] = field(default_factory=lambda: defaultdict(int))
    resolved: dict[tuple[str, str], list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    payments: dict[tuple[str, str], list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0, 0]))

    def add(self, other: Tallies) -> None:
        for k, n in other.received.items():
            self.received[k] += n
        for k2, v in other.resolved.items():
            mine = self.resolved[k2]
            mine[0] += v[0]
            mine[1] += v[1]
        for k2, v in other.payments.items():
            mine = self.payments[k2]
            mine[0] += v[0]
            mine[1] += v[1]
            mine[2] += v[2]

    def events(self) -> int:
        return (sum(self.received.values()) + sum(v[0] for v in self.resolved.values())
                + sum(v[0] for v in self.payments.values()))


Cells = dict[tuple[str, str, str, str], list[int]]
"""(kpi, area, dim, dim_value) -> [num, den] within one bucket."""


def tally_cells(t: Tallies) -> Cells:
    """The cells of a bucket's tallies, as ``ioc.kpis.counters.event_cells`` spreads them
    (province-wide and per area; counters also per breakdown, province-wide). Written out
    flat: it is the generator's inner loop."""
    nums: defaultdict[tuple[str, str, str, str], int] = defaultdict(int)
    dens: defaultdict[tuple[str, str, str, str], int] = defaultdict(int)
    for (area, agency, channel, level), n in t.received.items():
        online = n if channel == "online" else 0
        full = online if level == "full_online" else 0
        nums["dossier.received", "", "agency_code", agency] += n
        nums["dossier.received", "", "channel", channel] += n
        nums["dossier.received", "", "service_level", level] += n
        for scope in ("", area):
            nums["dossier.received", scope, "", ""] += n
            nums["dossier.online_rate", scope, "", ""] += online
            dens["dossier.online_rate", scope, "", ""] += n
            nums["dossier.full_online_rate", scope, "", ""] += full
            dens["dossier.full_online_rate", scope, "", ""] += n
    for (area, agency), (n, on_time) in t.resolved.items():
        nums["dossier.resolved", "", "agency_code", agency] += n
        nums["dossier.resolved_on_time", "", "agency_code", agency] += on_time
        for scope in ("", area):
            nums["dossier.resolved", scope, "", ""] += n
            nums["dossier.resolved_on_time", scope, "", ""] += on_time
            nums["dossier.on_time_rate", scope, "", ""] += on_time
            dens["dossier.on_time_rate", scope, "", ""] += n
    for (area, method), (n, amount, non_cash_amount) in t.payments.items():
        non_cash = 0 if method == "cash" else n
        nums["payment.count", "", "method", method] += n
        nums["payment.value_vnd", "", "method", method] += amount
        for scope in ("", area):
            nums["payment.count", scope, "", ""] += n
            nums["payment.value_vnd", scope, "", ""] += amount
            nums["payment.non_cash_rate", scope, "", ""] += non_cash
            dens["payment.non_cash_rate", scope, "", ""] += n
            nums["payment.non_cash_value_rate", scope, "", ""] += non_cash_amount
            dens["payment.non_cash_value_rate", scope, "", ""] += amount
    return {key: [n, dens.get(key, 0)] for key, n in nums.items()}


@dataclass
class DayRows:
    """One local day (or the part of it inside the window): COPY text per table."""

    start: datetime
    lines: dict[str, list[str]]
    events: int = 0
    readings: int = 0
    unit_minutes: int = 0
    active_unit_minutes: int = 0
    """Unit-minutes of the day, and those with at least one dossier or payment event."""

    def text(self, table: str) -> bytes:
        """The table's COPY text, in key order (series by series, as the primary key sorts),
        so that COPY appends to the index instead of touching every leaf of it each minute."""
        lines = self.lines[table]
        lines.sort()
        return "".join(lines).encode()


def _stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S+00")


def _tenths(v: int) -> str:
    return f"{v // 10}.{v % 10}"


class HistoryGenerator:
    """The history of ``days`` days before ``end`` (a whole minute) for ``geography``."""

    def __init__(self, geography: Geography, *, days: int, end: datetime, rate: float = 10.0,
                 seed: int = 14) -> None:
        self.geography = geography
        self.offset = geography.utc_offset
        self.end = bucket_start(end, Bucket.MINUTE, self.offset)
        self.start = self.end - timedelta(days=days)
        self.rate = rate
        self.seed = seed
        self.plan = TrafficPlan(geography, load_agencies(geography), seed=seed,
                                rng=random.Random(seed))
        self.codes = list(self.plan.areas)
        self.area_cum = list(self.plan.cum_weights)
        self.stations = self.plan.stations
        self.services = self.plan.services
        self.method_cum = _cumulative([w for _, w in _METHODS])
        self.purpose_cum = _cumulative([w for _, _, w in _PURPOSES])

    def day_starts(self) -> list[datetime]:
        first = bucket_start(self.start, Bucket.DAY, self.offset)
        out = []
        while first < self.end:
            out.append(first)
            first += timedelta(days=1)
        return out

    def days(self) -> Iterator[DayRows]:
        for day in self.day_starts():
            yield self.day(day)

    # -- intensity, as connectors.simulator.Simulator._profile ------------------------
    def _profile(self, t: datetime) -> tuple[float, float]:
        local = t + self.offset
        hour = local.hour + local.minute / 60
        online = 0.35 + 0.9 * math.exp(-((hour - 10.5) ** 2) / 18) + 0.5 * math.exp(-((hour - 20) ** 2) / 8)
        minutes = local.hour * 60 + local.minute
        office = local.weekday() < 5 and (450 <= minutes < 690 or 780 <= minutes < 1020)
        return online, 1.0 if office else 0.0

    def _minute_tallies(self, rng: random.Random, t: datetime) -> Tallies:
        online, counter = self._profile(t)
        out = Tallies()
        dossiers = self.rate * 0.5 * 60 * (online + counter) / 1.6
        agency = self.plan.agency
        n = poisson(rng, dossiers)
        areas = rng.choices(self.codes, cum_weights=self.area_cum, k=n)
        for area, service in zip(areas, rng.choices(self.services, k=n), strict=True):
            out.received[(area, agency(service, area), _channel(rng, service.level, counter > 0),
                          service.level)] += 1
        n = poisson(rng, dossiers * 0.9)
        areas = rng.choices(self.codes, cum_weights=self.area_cum, k=n)
        for area, service in zip(areas, rng.choices(self.services, k=n), strict=True):
            tally = out.resolved[(area, agency(service, area))]
            tally[0] += 1
            tally[1] += rng.random() < ON_TIME
        n = poisson(rng, self.rate * 0.5 * 60 * (0.4 + 0.6 * counter))
        areas = rng.choices(self.codes, cum_weights=self.area_cum, k=n)
        methods = rng.choices([m for m, _ in _METHODS], cum_weights=self.method_cum, k=n)
        purposes = rng.choices(_PURPOSES, cum_weights=self.purpose_cum, k=n)
        for area, method, (low, high, _) in zip(areas, methods, purposes, strict=True):
            amount = rng.randint(low, high) * 1000
            tally = out.payments[(area, method)]
            tally[0] += 1
            tally[1] += amount
            tally[2] += 0 if method == "cash" else amount
        return out

    @staticmethod
    def _kpi_lines(out: list[str], cells: Cells, stamp: str) -> None:
        out.extend(f"{kpi}\t{area}\t{dim}\t{value}\t{stamp}\t{n}\t{d}\n"
                   for (kpi, area, dim, value), (n, d) in cells.items())

    # -- one day -------------------------------------------------------------------------
    def day(self, day: datetime) -> DayRows:
        """Rows of the local day starting at ``day`` (UTC instant), clipped to the window."""
        rng = random.Random(f"{self.seed}-{day.isoformat()}")
        rows = DayRows(day, {t: [] for t in TABLES})
        lo, hi = max(day, self.start), min(day + timedelta(days=1), self.end)
        day_tallies = Tallies()
        sensors = _SensorDay(self, rows)
        hour: datetime | None = None
        hour_tallies = Tallies()
        t = lo
        while t < hi:
            start_of_hour = bucket_start(t, Bucket.HOUR, self.offset)
            if start_of_hour != hour:
                if hour is not None:
                    self._close_hour(rows, hour, hour_tallies, day_tallies, sensors)
                hour, hour_tallies = start_of_hour, Tallies()
            minute = self._minute_tallies(rng, t)
            rows.events += minute.events()
            rows.unit_minutes += len(self.codes)
            rows.active_unit_minutes += len({k[0] for k in minute.received}
                                            | {k[0] for k in minute.resolved}
                                            | {k[0] for k in minute.payments})
            self._kpi_lines(rows.lines["kpi_1m"], tally_cells(minute), _stamp(t))
            hour_tallies.add(minute)
            sensors.minute(rng, t)
            t += timedelta(minutes=1)
        if hour is not None:
            self._close_hour(rows, hour, hour_tallies, day_tallies, sensors)
            self._kpi_lines(rows.lines["kpi_1d"], tally_cells(day_tallies), _stamp(day))
            sensors.close_day(day)
        return rows

    def _close_hour(self, rows: DayRows, hour: datetime, tallies: Tallies, day: Tallies,
                    sensors: _SensorDay) -> None:
        self._kpi_lines(rows.lines["kpi_1h"], tally_cells(tallies), _stamp(hour))
        day.add(tallies)
        sensors.close_hour(hour)


_BASE = {"pm2_5": (38, 15), "pm10": (60, 20), "no2": (25, 10), "o3": (45, -15),
         "temperature_c": (26, 5), "humidity_pct": (75, -12), "noise_db": (55, 10),
         "water_level_cm": (180, 6)}


class _Acc:
    """Per (station, metric) readings, total, low and high over a bucket, values in tenths;
    an area's cell of a metric is its one station's (stations of a unit measure different
    metrics), the province's is every station's."""

    def __init__(self, size: int) -> None:
        self.readings = 0
        self.total = [0] * size
        self.low = [1 << 62] * size
        self.high = [-1] * size

    def lines(self, keys: list[tuple[str, str, str]], stamp: str) -> Iterator[str]:
        if not self.readings:
            return
        province: dict[str, list[int]] = {}
        n = self.readings
        for i, (metric, station_prefix, area_prefix) in enumerate(keys):
            tail = (f"{stamp}\t{n}\t{_tenths(self.total[i])}\t{_tenths(self.low[i])}\t"
                    f"{_tenths(self.high[i])}\n")
            yield station_prefix + tail
            yield area_prefix + tail
            acc = province.get(metric)
            if acc is None:
                province[metric] = [n, self.total[i], self.low[i], self.high[i]]
            else:
                acc[0] += n
                acc[1] += self.total[i]
                acc[2] = min(acc[2], self.low[i])
                acc[3] = max(acc[3], self.high[i])
        for metric, (r, total, low, high) in province.items():
            yield f"{metric}\t\t\t{stamp}\t{r}\t{_tenths(total)}\t{_tenths(low)}\t{_tenths(high)}\n"

    def add(self, other: _Acc) -> None:
        self.readings += other.readings
        for i, v in enumerate(other.total):
            self.total[i] += v
            if other.low[i] < self.low[i]:
                self.low[i] = other.low[i]
            if other.high[i] > self.high[i]:
                self.high[i] = other.high[i]


class _SensorDay:
    """One day's sensor cells: per station, per area and province-wide for each metric."""

    def __init__(self, gen: HistoryGenerator, rows: DayRows) -> None:
        self.gen = gen
        self.rows = rows
        self.keys = [(m, f"{m}\t\t{s.station_id}\t", f"{m}\t{s.area}\t\t")
                     for s in gen.stations for m in s.metrics]
        self.hour_acc = _Acc(len(self.keys))
        self.day_acc = _Acc(len(self.keys))

    def minute(self, rng: random.Random, t: datetime) -> None:
        local = t + self.gen.offset
        hour = local.hour + local.minute / 60
        wave = math.sin((hour - 8) / 24 * 2 * math.pi)
        spread = {m: (a + b * wave, 0.08 * max(abs(a + b * wave), 1)) for m, (a, b) in _BASE.items()}
        spread["rainfall_mm"] = (-2.0, 1.5)
        gauss = rng.gauss
        minute = _Acc(0)
        minute.readings = 1
        minute.total = [max(0, round(gauss(*spread[metric]) * 10)) for metric, _, _ in self.keys]
        minute.low = minute.high = minute.total
        self.rows.lines["sensor_1m"].extend(minute.lines(self.keys, _stamp(t)))
        self.rows.readings += len(self.keys)
        self.hour_acc.add(minute)

    def close_hour(self, hour: datetime) -> None:
        self.rows.lines["sensor_1h"].extend(self.hour_acc.lines(self.keys, _stamp(hour)))
        self.day_acc.add(self.hour_acc)
        self.hour_acc = _Acc(len(self.keys))

    def close_day(self, day: datetime) -> None:
        self.rows.lines["sensor_1d"].extend(self.day_acc.lines(self.keys, _stamp(day)))


def utc_now_minute() -> datetime:
    now = datetime.now(UTC)
    return now.replace(second=0, microsecond=0)
