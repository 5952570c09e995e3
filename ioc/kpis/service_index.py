"""The service index (docs/contract/kpis.md, "Service index"; modelled on Decision
766/QĐ-TTg): 100 points in five groups, from the ratios' numerators and denominators. Pure.

Computed exactly, in rationals: ``index = 100 × Σ wᵢ·rᵢ / Σ wᵢ`` over the indicators whose
denominator is not 0; a group's points are ``Σ wᵢ·rᵢ`` over its indicators with data, scaled
by the same ``100 / Σ wᵢ``. A ranking orders scopes by the exact index, highest first, ties
by code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import NamedTuple


class Indicator(NamedTuple):
    kpi: str
    group: str
    weight: int


GROUPS = ("transparency", "progress", "digitisation", "online_service", "satisfaction")
"""The five groups, in the order of the decision (their points: 18, 20, 22, 22, 18)."""

INDICATORS: tuple[Indicator, ...] = (
    Indicator("dossier.synced_rate", "transparency", 18),
    Indicator("dossier.on_time_rate", "progress", 20),
    Indicator("dossier.digitized_rate", "digitisation", 11),
    Indicator("dossier.result_digitized_rate", "digitisation", 11),
    Indicator("dossier.online_rate", "online_service", 11),
    Indicator("dossier.fee_online_rate", "online_service", 11),
    Indicator("feedback.on_time_rate", "satisfaction", 6),
    Indicator("feedback.satisfied_rate", "satisfaction", 6),
    Indicator("dossier.satisfied_rate", "satisfaction", 6),
)
INDICATOR_KPIS = tuple(i.kpi for i in INDICATORS)

INDEX_KPI = "index.value"
"""The index as a KPI (alert rules, the feed); each group's points as ``index.<group>``."""

Counts = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Score:
    index: Fraction | None
    groups: dict[str, Fraction | None]

    def values(self) -> dict[str, Fraction | None]:
        """The index and each group as the KPIs ``index.value`` and ``index.<group>``."""
        return {INDEX_KPI: self.index, **{f"index.{g}": v for g, v in self.groups.items()}}


def score(counts: Mapping[str, Counts]) -> Score:
    """The index and group points of one scope and period from its indicators' summed
    (numerator, denominator); an indicator absent or with denominator 0 has no data."""
    with_data = [(i, counts[i.kpi]) for i in INDICATORS if counts.get(i.kpi, (0, 0))[1] != 0]
    if not with_data:
        return Score(None, dict.fromkeys(GROUPS))
    scale = Fraction(100, sum(i.weight for i, _ in with_data))
    groups: dict[str, Fraction | None] = dict.fromkeys(GROUPS)
    for indicator, (num, den) in with_data:
        points = scale * indicator.weight * Fraction(num, den)
        old = groups[indicator.group]
        groups[indicator.group] = points if old is None else old + points
    return Score(sum((p for p in groups.values() if p is not None), Fraction(0)), groups)


@dataclass(frozen=True, slots=True)
class Ranked:
    scope: str
    rank: int
    score: Score


def ranking(scores: Mapping[str, Score]) -> list[Ranked]:
    """The scopes with data (an index), ordered by index, highest first, ties by code;
    ``rank`` is the 1-based position."""
    rows = sorted(((scope, s) for scope, s in scores.items() if s.index is not None),
                  key=lambda row: (-row[1].index, row[0]))  # type: ignore[operator]
    return [Ranked(scope, n, s) for n, (scope, s) in enumerate(rows, start=1)]


def as_float(value: Fraction | None) -> float | None:
    """The double nearest to the exact value (what the API returns)."""
    return None if value is None else float(value)
