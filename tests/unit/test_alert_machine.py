"""The alert state machine: hysteresis, pending period, flapping input, restart mid-pending."""

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ioc.alerts.machine import (
    Comparison,
    Condition,
    Event,
    RuleError,
    State,
    Track,
    acknowledge,
    step,
)

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
ON_TIME = Condition(Comparison.BELOW, threshold=95, recovery=97, pending_for=timedelta(minutes=5))
BACKLOG = Condition(Comparison.ABOVE, threshold=100, recovery=80)


def run(condition: Condition, values: list[tuple[int, float | None]], track: Track | None = None
        ) -> tuple[Track, list[tuple[int, Event]]]:
    track = track or Track()
    events = []
    for minute, value in values:
        track, event = step(condition, track, value, T0 + timedelta(minutes=minute))
        if event is not None:
            events.append((minute, event))
    return track, events


def test_fires_only_after_the_breach_held_for_the_pending_period() -> None:
    track, events = run(ON_TIME, [(0, 96), (1, 94), (3, 93), (5, 94), (6, 94)])
    assert events == [(1, Event.PENDING), (6, Event.FIRED)]
    assert track.state is State.FIRING and track.since == T0 + timedelta(minutes=6)


def test_a_breach_that_does_not_hold_is_cancelled_without_firing() -> None:
    _, events = run(ON_TIME, [(0, 94), (3, 95.5), (4, 94), (8, 94), (9, 94)])
    assert events == [(0, Event.PENDING), (3, Event.CANCELLED), (4, Event.PENDING), (9, Event.FIRED)]


def test_hysteresis_no_flapping_between_threshold_and_recovery() -> None:
    _, events = run(BACKLOG, [(0, 101), (1, 99), (2, 101), (3, 90), (4, 105), (5, 80.5), (6, 80)])
    assert events == [(0, Event.FIRED), (6, Event.RESOLVED)]


def test_acknowledged_alerts_resolve_on_recovery_and_a_new_breach_starts_a_new_episode() -> None:
    track, _ = run(BACKLOG, [(0, 150)])
    track, event = acknowledge(track, T0 + timedelta(minutes=1))
    assert event is Event.ACKNOWLEDGED and track.state is State.ACKNOWLEDGED
    assert acknowledge(track, T0)[1] is None  # only a firing alert can be acknowledged
    track, events = run(BACKLOG, [(2, 120), (3, 70), (4, 130)], track)
    assert events == [(3, Event.RESOLVED), (4, Event.FIRED)]


def test_missing_values_change_nothing() -> None:
    track, events = run(ON_TIME, [(0, 94), (2, None), (7, None)])
    assert events == [(0, Event.PENDING)] and track.state is State.PENDING


def test_a_restart_mid_pending_resumes_from_the_stored_track() -> None:
    before, _ = run(ON_TIME, [(0, 90), (2, 90)])
    stored = Track(State(before.state.value), before.since, before.value)  # as read back
    after, events = run(ON_TIME, [(4, 90), (5, 90)], stored)
    assert events == [(5, Event.FIRED)] and after.state is State.FIRING


def test_contradictory_rules_are_refused() -> None:
    with pytest.raises(RuleError, match="recovers"):
        Condition(Comparison.ABOVE, threshold=100, recovery=120)
    with pytest.raises(RuleError, match="recovers"):
        Condition(Comparison.BELOW, threshold=95, recovery=90)
    with pytest.raises(RuleError, match="negative"):
        Condition(Comparison.ABOVE, threshold=1, recovery=0, pending_for=timedelta(minutes=-1))


@given(st.lists(st.floats(min_value=80.01, max_value=200, allow_nan=False), min_size=1, max_size=60))
def test_any_input_above_recovery_fires_at_most_once(values: list[float]) -> None:
    """Without ever recovering, however the value flaps around the threshold, one episode."""
    _, events = run(BACKLOG, list(enumerate(values)))
    assert [e for _, e in events].count(Event.FIRED) <= 1
    assert Event.RESOLVED not in [e for _, e in events]


@given(st.lists(st.one_of(st.none(), st.floats(min_value=0, max_value=200, allow_nan=False)),
                max_size=80))
def test_fired_and_resolved_alternate(values: list[float | None]) -> None:
    _, events = run(BACKLOG, list(enumerate(values)))
    kinds = [e for _, e in events]
    assert all(a != b for a, b in pairwise(kinds))
    assert not kinds or kinds[0] is Event.FIRED
