"""The service-index scorecard (docs/contract/api.md, ``/api/v1/scorecard``): the period a
request names and the ranked rows of a set of scopes. Pure; the sums come from
``ioc.storage.scorecard_reads``."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal

from ioc.kpis.service_index import Counts, Score, ranking, score

PeriodKind = Literal["day", "month"]
By = Literal["province", "area", "agency"]
_DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_MONTH = re.compile(r"^[0-9]{4}-[0-9]{2}$")


@dataclass(frozen=True, slots=True)
class ScorePeriod:
    """One local day or one calendar month (local time), as a half-open UTC range."""

    kind: PeriodKind
    first: date
    """Its first local day."""
    start: datetime
    end: datetime

    @property
    def days(self) -> list[datetime]:
        """The UTC start of each of its local days (the 1d buckets summed)."""
        count = round((self.end - self.start) / timedelta(days=1))
        return [self.start + timedelta(days=n) for n in range(count)]


def _local_midnight(day: date, utc_offset: timedelta) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC) - utc_offset


def period_of(kind: PeriodKind, on: str | None, now: datetime, utc_offset: timedelta,
              ) -> ScorePeriod:
    """The period ``on`` names (``YYYY-MM-DD`` for a day, ``YYYY-MM`` for a month), or the
    current one at ``now``; ValueError saying why for anything else."""
    if on is None:
        today = (now + utc_offset).date()
        first = today if kind == "day" else today.replace(day=1)
    else:
        pattern, shape = (_DAY, "YYYY-MM-DD") if kind == "day" else (_MONTH, "YYYY-MM")
        if not pattern.fullmatch(on):
            raise ValueError(f"'on' must be {shape} for period={kind}, not {on!r}")
        try:
            first = date.fromisoformat(on if kind == "day" else f"{on}-01")
        except ValueError:
            raise ValueError(f"'on': {on!r} is not a date of the calendar") from None
        if not 1900 <= first.year <= 8999:
            raise ValueError(f"'on': the year must lie between 1900 and 8999, not {first.year}")
    if kind == "day":
        following = first + timedelta(days=1)
    else:
        following = (first.replace(year=first.year + 1, month=1) if first.month == 12
                     else first.replace(month=first.month + 1))
    return ScorePeriod(kind, first, _local_midnight(first, utc_offset),
                       _local_midnight(following, utc_offset))


@dataclass(frozen=True, slots=True)
class ScoreRow:
    scope: str
    """"" for the province, an area's code, or an agency's code."""
    name: str
    rank: int
    score: Score


def scorecard(sums: Mapping[str, Mapping[str, Counts]], name: Callable[[str], str],
              ) -> list[ScoreRow]:
    """The ranked rows of every scope with data, from each scope's summed indicator
    (numerator, denominator)."""
    return [ScoreRow(r.scope, name(r.scope), r.rank, r.score)
            for r in ranking({scope: score(counts) for scope, counts in sums.items()})]
