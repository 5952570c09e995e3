"""What goes into the monthly report, as plain typed values (pure: no I/O).

The storage reads (:mod:`ioc.report.reads`) give rows; :func:`ioc.report.build.build_report`
turns them into a :class:`MonthlyReport`; :mod:`ioc.report.render` draws it. Values stay exact
(``Fraction``) up to here; rounding half-up to two decimals (kpis.md, "pages round half-up")
is :func:`half_up`, applied when the page is drawn.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction

MONTH_PATTERN = r"^[0-9]{4}-[0-9]{2}$"
_MONTH = re.compile(MONTH_PATTERN)


@dataclass(frozen=True, slots=True)
class Period:
    """A calendar month in the province's local time, as a half-open UTC range."""

    year: int
    month: int
    start: datetime
    """Local midnight of the 1st, in UTC."""
    end: datetime
    """Local midnight of the 1st of the next month, in UTC (exclusive)."""
    utc_offset: timedelta

    @property
    def label(self) -> str:
        """``YYYY-MM``."""
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def days(self) -> int:
        return round((self.end - self.start) / timedelta(days=1))


def month_period(text: str, utc_offset: timedelta) -> Period:
    """The calendar month ``YYYY-MM`` names (years 1900 to 8999); ValueError saying why
    for anything else."""
    if not _MONTH.fullmatch(text):
        raise ValueError(f"month must be YYYY-MM, not {text!r}")
    year, month = int(text[:4]), int(text[5:])
    if not 1 <= month <= 12:
        raise ValueError(f"month must be 01 to 12, not {text[5:]!r}")
    if not 1900 <= year <= 8999:
        raise ValueError(f"year must lie between 1900 and 8999, not {year}")
    following = (year + 1, 1) if month == 12 else (year, month + 1)
    start = datetime(year, month, 1, tzinfo=UTC) - utc_offset
    end = datetime(*following, 1, tzinfo=UTC) - utc_offset
    return Period(year, month, start, end, utc_offset)


def half_up(value: Fraction | int, places: int = 2) -> str:
    """``value`` rounded half away from zero to ``places`` decimals, as text (exact: no
    float in between, so 0.125 is 0.13 and 2/3 is 0.67)."""
    exact = Fraction(value)
    scale = 10 ** places
    scaled = abs(exact) * scale
    whole = int(scaled + Fraction(1, 2))  # floor of a non-negative number
    sign = "-" if exact < 0 and whole else ""
    digits = str(whole).rjust(places + 1, "0")
    return f"{sign}{digits[:-places]}.{digits[-places:]}" if places else f"{sign}{digits}"


def ratio_percent(numerator: int, denominator: int) -> Fraction | None:
    """A ratio KPI's value: numerator × 100 / denominator, exactly; None when the
    denominator is 0 (kpis.md)."""
    return None if denominator == 0 else Fraction(numerator * 100, denominator)


@dataclass(frozen=True, slots=True)
class RankRow:
    """One scope (an area or an agency) in a service-index ranking."""

    rank: int
    code: str
    name: str
    index: Fraction
    groups: tuple[Fraction | None, ...]
    """Points of each group, in :attr:`Ranking.groups` order; None: no indicator with data."""


@dataclass(frozen=True, slots=True)
class Group:
    key: str
    name_vi: str
    name_en: str
    points: int
    """The group's maximum points (its weights' sum)."""


@dataclass(frozen=True, slots=True)
class Ranking:
    groups: tuple[Group, ...]
    rows: tuple[RankRow, ...]


@dataclass(frozen=True, slots=True)
class KpiLine:
    """A province KPI over the month: the sum of its days' numerators and denominators."""

    kpi: str
    name_vi: str
    name_en: str
    unit: str
    is_ratio: bool
    numerator: int
    denominator: int
    target: Fraction | None
    higher_is_better: bool

    @property
    def value(self) -> Fraction | None:
        """Ratios in percent (None on 0/0); counters their sum."""
        return ratio_percent(self.numerator, self.denominator) if self.is_ratio \
            else Fraction(self.numerator)

    @property
    def met(self) -> bool | None:
        """Whether the value reaches the target (in the better direction); None without
        a target or a value."""
        value = self.value
        if self.target is None or value is None:
            return None
        return value >= self.target if self.higher_is_better else value <= self.target


@dataclass(frozen=True, slots=True)
class AlertLine:
    """An alert episode that fired in the month."""

    id: int
    rule: str
    kpi: str
    scope: str
    """As shown: the province, an area's code and name, or a station."""
    severity: str
    state: str
    fired_at: datetime
    resolved_at: datetime | None
    value: float | None
    """The last value judged."""


@dataclass(frozen=True, slots=True)
class MonthlyReport:
    province_code: str
    province_name: str
    period: Period
    generated_at: datetime
    areas: Ranking
    agencies: Ranking
    kpis: tuple[KpiLine, ...]
    alerts: tuple[AlertLine, ...]
    alerts_left_out: int = 0
    """Episodes beyond those listed (the list is bounded)."""
