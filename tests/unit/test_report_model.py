"""The monthly report's pure parts: months as local ranges, exact half-up rounding, a KPI
line's value and whether it meets its target."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ioc.report.model import KpiLine, half_up, month_period, ratio_percent

ICT = timedelta(hours=7)


def test_a_month_runs_from_local_midnight_of_the_1st_to_that_of_the_next() -> None:
    period = month_period("2026-02", ICT)
    assert period.start == datetime(2026, 1, 31, 17, tzinfo=UTC)
    assert period.end == datetime(2026, 2, 28, 17, tzinfo=UTC)
    assert (period.label, period.days) == ("2026-02", 28)
    december = month_period("2024-12", ICT)
    assert december.end == datetime(2024, 12, 31, 17, tzinfo=UTC)
    assert december.days == 31
    assert month_period("2024-02", ICT).days == 29


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "2026-1", "26-01", "2026/01", "",
                                  "2026-01-01", "0001-01", "9999-12", "２０２６-01", "2026-01\n"])
def test_a_bad_month_is_refused_saying_why(text: str) -> None:
    with pytest.raises(ValueError, match=r"month|year"):
        month_period(text, ICT)


@pytest.mark.parametrize(("value", "shown"), [
    (Fraction(1, 8), "0.13"), (Fraction(2, 3), "0.67"), (Fraction(1, 3), "0.33"),
    (Fraction(5, 1000), "0.01"), (Fraction(4999, 1000000), "0.00"), (100, "100.00"), (0, "0.00"),
    (Fraction(-1, 8), "-0.13"), (Fraction(-1, 1000), "0.00"), (Fraction(98765, 1000), "98.77"),
])
def test_half_up_rounds_exact_values_half_away_from_zero(value: Fraction | int, shown: str) -> None:
    assert half_up(value) == shown


@given(st.fractions(min_value=-10**6, max_value=10**6, max_denominator=10**12))
def test_half_up_agrees_with_decimal_rounding(value: Fraction) -> None:
    # 60 digits: with denominators up to 10^12 a value is either exactly half-way or at least
    # 10^-15 from it, far beyond what the 60th digit could move
    with localcontext(prec=60):
        exact = Decimal(value.numerator) / Decimal(value.denominator)
        expected = exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    assert half_up(value) == (str(expected) if expected != 0 else "0.00")


def test_ratios_are_percent_and_null_on_zero() -> None:
    assert ratio_percent(1, 3) == Fraction(100, 3)
    assert ratio_percent(0, 0) is None
    assert ratio_percent(0, 5) == 0


def line(num: int, den: int, target: Fraction | None, higher: bool = True, ratio: bool = True) -> KpiLine:
    return KpiLine("dossier.online_rate", "Tỷ lệ hồ sơ trực tuyến", "Online dossier rate", "%",
                   ratio, num, den, target, higher)


def test_a_line_meets_its_target_in_the_better_direction() -> None:
    assert line(89, 100, Fraction(89)).met is True
    assert line(88, 100, Fraction(89)).met is False
    assert line(0, 0, Fraction(89)).met is None      # no value
    assert line(5, 10, None).met is None              # no target
    assert line(0, 0, Fraction(0), higher=False, ratio=False).met is True   # a counter at 0
    assert line(3, 0, Fraction(0), higher=False, ratio=False).met is False
    assert line(3, 0, None, ratio=False).value == 3
