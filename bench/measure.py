"""What every benchmark shares: the percentile of a sample, and simulated events to publish."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import datetime, timedelta

from connectors.publisher import event_key
from connectors.simulator import Simulator
from ioc.geography import geography_of
from ioc.settings import Settings


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile of ``values`` (0 < q ≤ 1) by nearest rank: the smallest value with at
    least ``q`` of the sample at or below it, i.e. the ⌈q·n⌉-th smallest (p99 of 100 samples
    is the 99th, not the largest; p50 of an even count is the lower middle)."""
    if not values:
        raise ValueError("the percentile of no values")
    if not 0 <= q <= 1:
        raise ValueError(f"quantile {q} is not between 0 and 1")
    ordered = sorted(values)
    rank = math.ceil(round(q * len(ordered), 9))  # round: 0.07 * 100 is 7.000000000000001
    return ordered[max(rank, 1) - 1]


def simulated_records(count: int, seed: int, now: datetime) -> list[tuple[bytes | None, bytes]]:
    """``count`` simulated events over the last hours, as publishable records."""
    sim = Simulator(geography_of(Settings()), seed=seed, source="bench", rate=400, start=now)
    out: list[tuple[bytes | None, bytes]] = []
    t = now - timedelta(hours=6)
    while len(out) < count:
        for ev in sim.between(t, t + timedelta(seconds=30)):
            out.append((event_key(ev), json.dumps(ev, separators=(",", ":")).encode()))
        t += timedelta(seconds=30)
    return out[:count]
