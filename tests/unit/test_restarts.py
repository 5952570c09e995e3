"""The restart policy of ``ioc up``: backoff, its reset after a healthy run, a budget per window."""

from __future__ import annotations

import pytest

from ioc.embedded.restarts import RestartBudget, RestartPolicy, Verdict


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


POLICY = RestartPolicy(initial_delay_s=1.0, max_delay_s=30.0, healthy_after_s=60.0,
                       window_s=600.0, max_restarts=5)


def crash_after(budget: RestartBudget, clock: FakeClock, ran_s: float) -> Verdict:
    """The part runs ``ran_s``, dies, and is restarted when the verdict says."""
    budget.started()
    clock.now += ran_s
    verdict = budget.exited()
    clock.now += verdict.delay_s
    return verdict


def test_quick_crashes_double_the_delay_up_to_the_cap() -> None:
    clock = FakeClock()
    budget = RestartBudget(RestartPolicy(max_restarts=100), clock)
    budget.started()
    clock.now += 3600  # ran well: restarted at once
    assert budget.exited().delay_s == 0
    delays = [crash_after(budget, clock, 0.5).delay_s for _ in range(8)]
    assert delays == [1, 2, 4, 8, 16, 30, 30, 30]


def test_a_healthy_run_starts_the_backoff_over() -> None:
    clock = FakeClock()
    budget = RestartBudget(RestartPolicy(max_restarts=100), clock)
    assert [crash_after(budget, clock, 1).delay_s for _ in range(4)] == [0, 1, 2, 4]
    assert crash_after(budget, clock, 60).delay_s == 0
    assert crash_after(budget, clock, 1).delay_s == 1


def test_the_budget_counts_restarts_in_the_window_not_in_a_lifetime() -> None:
    clock = FakeClock()
    budget = RestartBudget(POLICY, clock)
    # one crash a day for weeks: always the first restart in its window, never refused
    for _ in range(30):
        verdict = crash_after(budget, clock, 24 * 3600)
        assert verdict == Verdict(0.0, 1, False)


def test_past_the_budget_the_restart_waits_for_the_window() -> None:
    clock = FakeClock()
    budget = RestartBudget(POLICY, clock)
    first_restart = clock.now
    verdicts = [crash_after(budget, clock, 0) for _ in range(5)]
    assert [v.in_window for v in verdicts] == [1, 2, 3, 4, 5]
    assert not any(v.over_budget for v in verdicts)
    budget.started()
    sixth = budget.exited()
    assert sixth.over_budget and sixth.in_window == 5
    # the sixth restart comes when the first one has left the 10-minute window
    assert clock.now + sixth.delay_s == pytest.approx(first_restart + 600)
    clock.now += sixth.delay_s
    # later crashes keep being restarted, at most five per window
    due = [clock.now]
    for _ in range(12):
        verdict = crash_after(budget, clock, 0)
        due.append(clock.now)
    assert all(b - a >= 600 for a, b in zip(due, due[5:], strict=False))
    assert verdict.in_window == 5


def test_an_exit_without_a_start_counts_as_a_short_run() -> None:
    clock = FakeClock()
    budget = RestartBudget(POLICY, clock)
    assert budget.exited().delay_s == 0
    assert budget.exited().delay_s == 1
    assert budget.exited().delay_s == 2


@pytest.mark.parametrize("kwargs", [{"initial_delay_s": -1}, {"max_delay_s": 0.5},
                                    {"window_s": 0}, {"max_restarts": 0}])
def test_nonsense_policies_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RestartPolicy(**kwargs)  # type: ignore[arg-type]
