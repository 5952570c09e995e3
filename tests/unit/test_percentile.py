"""The benchmarks' percentile is the nearest rank: p99 of 100 samples is the 99th smallest."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.measure import percentile


def test_p99_of_a_hundred_samples_is_the_99th_not_the_maximum() -> None:
    values = [float(v) for v in range(1, 101)]  # 1 … 100
    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 1.0) == 100.0
    assert percentile(values, 0.01) == 1.0


def test_order_does_not_matter_and_small_samples() -> None:
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile([5.0], 0.99) == 5.0
    assert percentile([1.0, 2.0], 0.5) == 1.0  # the lower middle: half the sample is at or below it
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.0) == 1.0


def test_no_values_or_a_quantile_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError):
        percentile([], 0.5)
    with pytest.raises(ValueError):
        percentile([1.0], 99)


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=300),
       st.integers(min_value=1, max_value=100))
def test_nearest_rank_definition(values: list[float], p: int) -> None:
    """At least p % of the sample is at or below it, and less than p % strictly below it."""
    q = p / 100
    got = percentile(values, q)
    n = len(values)
    assert sum(v <= got for v in values) >= math.ceil(q * n - 1e-9)
    assert sum(v < got for v in values) < q * n
    assert got == sorted(values)[math.ceil(p * n / 100) - 1]  # integer arithmetic: no rounding
