"""The service index (pure) against the independent reference, and by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from fractions import Fraction

import pytest

from ioc.events import Rules
from ioc.geography import HISTORIC, load_geography
from ioc.intake import RawRecord, triage
from ioc.kpis.buckets import Bucket
from ioc.kpis.counters import bucket_cells
from ioc.kpis.service_index import GROUPS, INDICATOR_KPIS, Counts, ranking, score
from ioc.scorecard import period_of, scorecard
from tests.generator import generate_stream
from tests.reference_index import expected_scorecard
from tests.reference_kpis import TZ, accepted_events

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
ICT = timedelta(hours=7)
REF = load_geography(HISTORIC)
STREAM = generate_stream(5, NOW, 3000)


def test_every_indicator_at_100_percent_gives_the_decisions_points() -> None:
    full = score(dict.fromkeys(INDICATOR_KPIS, (3, 3)))
    assert full.index == 100
    assert full.groups == {"transparency": 18, "progress": 20, "digitisation": 22,
                           "online_service": 22, "satisfaction": 18}


def test_only_indicators_with_data_count_and_scale_to_100() -> None:
    one = score({"dossier.on_time_rate": (1, 2), "dossier.synced_rate": (0, 0)})
    assert one.index == 50 and one.groups["progress"] == 50
    assert all(one.groups[g] is None for g in GROUPS if g != "progress")
    two = score({"dossier.on_time_rate": (1, 3), "feedback.satisfied_rate": (1, 1)})
    assert two.index == Fraction(100, 26) * (20 * Fraction(1, 3) + 6)
    assert two.groups["satisfaction"] == Fraction(600, 26)
    assert score({}).index is None and score({"dossier.online_rate": (0, 0)}).index is None


def test_ranking_orders_by_exact_index_then_code() -> None:
    half = score({"dossier.on_time_rate": (1, 2)})
    scores = {"b": half, "a": half, "c": score({"dossier.on_time_rate": (2, 3)}),
              "z": score({})}
    assert [(r.scope, r.rank) for r in ranking(scores)] == [("c", 1), ("a", 2), ("b", 3)]


def _sums(by: str, first: date, last: date) -> dict[str, dict[str, Counts]]:
    events = triage([RawRecord("t", 0, i, r) for i, r in enumerate(STREAM)], Rules(REF),
                    NOW).accepted
    days = bucket_cells(events, ICT)[Bucket.DAY]
    out: dict[str, dict[str, Counts]] = {}
    for key, (num, den) in days.items():
        day = key.bucket.astimezone(TZ).date()
        if key.kpi not in INDICATOR_KPIS or not first <= day <= last:
            continue
        if by == "agency":
            if key.dim != "agency_code":
                continue
            scope = key.dim_value
        elif key.dim or (by == "province") != (key.area == ""):
            continue
        else:
            scope = key.area
        old = out.setdefault(scope, {}).get(key.kpi, (0, 0))
        out[scope][key.kpi] = (old[0] + num, old[1] + den)
    return out


@pytest.mark.parametrize("by", ["province", "area", "agency"])
def test_scorecards_equal_the_reference(by: str) -> None:
    events = accepted_events(STREAM, set(REF.area_codes), NOW)
    today = NOW.astimezone(TZ).date()
    for first, last in ((today, today), (today - timedelta(days=1), today - timedelta(days=1)),
                        (today - timedelta(days=3), today)):
        got = scorecard(_sums(by, first, last), lambda code: code)
        want = expected_scorecard(events, by, first, last)
        assert [(r.scope, r.rank, r.score.index, r.score.groups) for r in got] == \
            [(w["scope"], w["rank"], w["index"], w["groups"]) for w in want]
        assert len(got) >= (1 if by == "province" else 5)


def test_periods_are_local_days_and_calendar_months() -> None:
    day = period_of("day", "2026-03-01", NOW, ICT)
    assert day.start == datetime(2026, 2, 28, 17, tzinfo=UTC) and day.end - day.start == timedelta(days=1)
    month = period_of("month", "2026-02", NOW, ICT)
    assert len(month.days) == 28 and month.first == date(2026, 2, 1)
    assert period_of("month", None, NOW, ICT).first == date(2026, 11, 1)
    assert period_of("day", None, datetime(2026, 11, 22, 18, tzinfo=UTC), ICT).first == date(2026, 11, 23)
    for kind, bad in (("day", "2026-02-30"), ("day", "2026-02"), ("month", "2026-13"),
                      ("month", "2026-1"), ("day", "0001-01-01")):
        with pytest.raises(ValueError, match="'on'"):
            period_of(kind, bad, NOW, ICT)  # type: ignore[arg-type]
