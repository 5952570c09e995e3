"""When ``ioc up`` restarts a part that died: exponential backoff and a budget per time window.

Pure logic, clock injected. A part that exits after running well (``healthy_after_s`` or more)
is restarted at once; one that exits again after a short run waits ``initial_delay_s``,
doubling with each such exit up to ``max_delay_s``. At most ``max_restarts`` restarts fall
in any ``window_s``: past that, the next restart waits until the oldest one leaves the window.
Nothing is given up for good: a stack that has been up for weeks survives its hundredth
worker crash, and a misbehaving part costs at most ``max_restarts`` restarts per window.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    initial_delay_s: float = 1.0
    max_delay_s: float = 30.0
    healthy_after_s: float = 60.0
    window_s: float = 600.0
    max_restarts: int = 10

    def __post_init__(self) -> None:
        if self.initial_delay_s < 0 or self.max_delay_s < self.initial_delay_s:
            raise ValueError("need 0 <= initial_delay_s <= max_delay_s")
        if self.window_s <= 0 or self.max_restarts < 1 or self.healthy_after_s < 0:
            raise ValueError("need window_s > 0, max_restarts >= 1, healthy_after_s >= 0")


@dataclass(frozen=True, slots=True)
class Verdict:
    """What to do about an exit: restart after ``delay_s``. ``in_window`` counts this restart
    and the earlier ones in the window; ``over_budget`` says the budget set the delay."""

    delay_s: float
    in_window: int
    over_budget: bool


class RestartBudget:
    """One part's restart history. Call :meth:`started` when it (re)starts and :meth:`exited`
    when it dies; the verdict says how long to wait before starting it again."""

    def __init__(self, policy: RestartPolicy, clock: Callable[[], float]) -> None:
        self._policy = policy
        self._clock = clock
        self._restarts: deque[float] = deque()  # when each restart is due, oldest first
        self._streak = 0  # exits in a row after short runs
        self._started_at: float | None = None

    def started(self) -> None:
        self._started_at = self._clock()

    def exited(self) -> Verdict:
        p = self._policy
        now = self._clock()
        ran = now - self._started_at if self._started_at is not None else 0.0
        self._started_at = None
        if ran >= p.healthy_after_s:
            self._streak = 0
        delay = 0.0 if not self._streak else min(p.initial_delay_s * 2 ** (self._streak - 1),
                                                 p.max_delay_s)
        self._streak += 1
        while self._restarts and self._restarts[0] <= now - p.window_s:
            self._restarts.popleft()
        over = len(self._restarts) >= p.max_restarts
        if over:  # wait until the oldest restart that counts leaves the window
            oldest = self._restarts[-p.max_restarts]
            delay = max(delay, oldest + p.window_s - now)
        self._restarts.append(now + delay)
        while len(self._restarts) > p.max_restarts:
            self._restarts.popleft()
        return Verdict(delay, min(len(self._restarts), p.max_restarts), over)
