"""Where the simulator's traffic goes in a two-tier geography (since July 2025): how busy
each unit is, which agency handles each service, where the sensor stations stand.

All of it follows from the seed and the geography, nothing else, so a seed always gives
the same province:

- Each unit's weight is its kind's base (a phường files more than a xã; an island đặc khu
  far less) times a heavy-tailed (Pareto) factor drawn for that unit alone, capped by kind,
  so a few wards, like those of a former city centre, are much busier than the rest, some
  large rural communes busier than small wards, and no island zone busy.
- A service is handled either at commune level (each unit's own People's Committee, so its
  dossiers only come from that unit) or by one province-level agency (which takes dossiers
  from every unit), both taken from the deployment's agency list.
- Air-quality stations stand in a subset of units, more likely in busy ones; water-level
  stations in another subset; each station keeps its id and unit.

The historic profile (hai-duong-2024) keeps the simulator's original rules
(connectors/simulator.py) so that its output stays the same.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate

from ioc.geography import Geography
from ioc.geography.agencies import Agencies

AIR = ("pm2_5", "pm10", "no2", "o3", "temperature_c", "humidity_pct", "noise_db")
WATER = ("water_level_cm", "rainfall_mm")

KIND_WEIGHT = {"phường": 3.0, "xã": 1.0, "đặc khu": 0.15}
"""Base weight by unit kind; any other kind (a deployment's own list) weighs 1."""
TAIL_ALPHA = 1.4
"""Pareto shape of a unit's own factor: small alpha, heavy tail (a few units much busier)."""
TAIL_CAP = {"phường": 25.0, "xã": 6.0, "đặc khu": 2.0}
"""Largest factor by kind (other kinds: 10): an island đặc khu stays quiet whatever its draw."""
COMMUNE_SHARE = 0.65
"""Share of services handled at commune level (most procedures since the 2025 reform)."""
SERVICES = 120
AGENCY_WEIGHT = {"SO-TP": 3.0, "SO-TC": 3.0, "SO-XD": 3.0, "CA": 2.5, "SO-NNMT": 2.5,
                 "SO-NV": 2.0, "SO-YT": 1.5, "SO-GDDT": 1.0, "SO-CT": 1.0, "SO-KHCN": 0.7,
                 "SO-VHTTDL": 0.7, "TTPVHCC": 0.5, "VP-UBND": 0.3, "TTR": 0.3}
"""How much of the province-level work each shipped agency takes; others weigh 1."""


@dataclass(frozen=True, slots=True)
class Service:
    code: str
    level: str
    days: int
    agency: str | None = None
    """The province-level agency handling it; None: the unit's own (commune level)."""


@dataclass(frozen=True, slots=True)
class Station:
    station_id: str
    area: str
    metrics: tuple[str, ...]


def _unit_rng(seed: int, purpose: str, code: str = "") -> random.Random:
    return random.Random(f"ioc-sim:{seed}:{purpose}:{code}")


def unit_weights(geography: Geography, seed: int) -> tuple[float, ...]:
    """How busy each unit is (relative), in the order of ``geography.units``. A unit's weight
    depends only on the seed, its code and its kind."""
    out = []
    for unit in geography.units:
        tail = _unit_rng(seed, "weight", unit.code).paretovariate(TAIL_ALPHA)
        out.append(KIND_WEIGHT.get(unit.kind, 1.0) * min(tail, TAIL_CAP.get(unit.kind, 10.0)))
    return tuple(out)


def _weighted_sample(rng: random.Random, items: Sequence[str], weights: Sequence[float],
                     k: int) -> list[str]:
    """``k`` distinct items, each more likely the heavier it is (Efraimidis-Spirakis)."""
    keyed = sorted(((rng.random() ** (1 / w), i) for i, w in enumerate(weights)), reverse=True)
    return sorted((items[i] for _, i in keyed[:k]), key=items.index)


def place_stations(geography: Geography, seed: int,
                   weights: Sequence[float]) -> tuple[Station, ...]:
    """Air-quality stations in about a quarter of the units (busier ones likelier), water
    stations in about a tenth (anywhere: rivers and coast run through rural units too)."""
    codes = [u.code for u in geography.units]
    rng = _unit_rng(seed, "stations")
    air = set(_weighted_sample(rng, codes, weights, max(3, len(codes) // 4)))
    water = set(_weighted_sample(rng, codes, [1.0] * len(codes), max(2, len(codes) // 10)))
    stations = []
    for code in codes:
        if code in air:
            stations.append(Station(f"ST-{code}-AQ", code, AIR))
        if code in water:
            stations.append(Station(f"ST-{code}-WL", code, WATER))
    return tuple(stations)


class TrafficPlan:
    """The simulated province: unit weights, services with their agencies, stations."""

    def __init__(self, geography: Geography, agencies: Agencies, *, seed: int,
                 rng: random.Random) -> None:
        self.areas = tuple(u.code for u in geography.units)
        self.weights = unit_weights(geography, seed)
        self.cum_weights = tuple(accumulate(self.weights))
        self.stations = place_stations(geography, seed, self.weights)
        self._own = {area: found[0].code for area in self.areas
                     if (found := agencies.of_area(area))}
        province = agencies.province_level
        if not province and len(self._own) < len(self.areas):
            missing = next(a for a in self.areas if a not in self._own)
            raise ValueError(f"no agency can take dossiers from unit {missing}: the agency list "
                             "has no province-level agency and none of that unit")
        self._fallback = province[0].code if province else ""
        codes = [a.code for a in province]
        agency_weights = [AGENCY_WEIGHT.get(c, 1.0) for c in codes]
        suffix = f"H{geography.province_code or '00'}"
        self.services = tuple(
            Service(f"1.{rng.randrange(1000, 14000):06d}.000.00.00.{suffix}",
                    rng.choices(("full_online", "partial_online", "offline"), (0.3, 0.5, 0.2))[0],
                    rng.choice((1, 2, 3, 5, 7, 10, 15)),
                    None if not codes or rng.random() < COMMUNE_SHARE
                    else rng.choices(codes, agency_weights)[0])
            for _ in range(SERVICES))

    def pick_area(self, rng: random.Random) -> str:
        return rng.choices(self.areas, cum_weights=self.cum_weights)[0]

    def agency(self, service: Service, area: str) -> str:
        """The agency a dossier for ``service`` from ``area`` goes to."""
        if service.agency is not None:
            return service.agency
        return self._own.get(area, self._fallback)


def poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 50:  # normal approximation, fine for counts this large
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1
