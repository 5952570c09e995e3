"""The alert state machine of one (rule, scope). Pure: no I/O, the time is passed in.

    inactive ──breach──▶ pending ──breach held for `pending_for`──▶ firing ──ack──▶ acknowledged
       ▲                    │                                          │                │
       └──── no breach ─────┘                     resolved ◀──recovered─┴────recovered──┘
                                                     │
                                                     └──breach──▶ pending (a new episode)

A breach is the value past the threshold; recovery is the value back past the separate
recovery threshold (hysteresis), so a value wandering between the two neither fires again
nor resolves. A rule with no pending period fires on the first breach. A missing value
(no data yet) changes nothing. The state is small and explicit, so it can be stored and
resumed after a restart in the middle of a pending period.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum


class State(StrEnum):
    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class AlertState(StrEnum):
    """The states an alert (one episode of a track) is stored and shown in: the track's
    states but ``inactive``, which is never stored, and ``cancelled``, a pending alert whose
    breach ended before it fired (the track is inactive again). The one definition: the
    storage, the API and the wall (``dashboards/wall/wall.js``) take theirs from here."""

    PENDING = "pending"
    FIRING = "firing"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    CANCELLED = "cancelled"


OPEN_STATES: tuple[AlertState, ...] = (AlertState.PENDING, AlertState.FIRING, AlertState.ACKNOWLEDGED)
"""An open alert can still change; the others are closed for good."""


def track_state(stored: AlertState | str) -> State:
    """The machine state of a stored alert (a cancelled one is an inactive track)."""
    return State.INACTIVE if stored == AlertState.CANCELLED else State(stored)


class Comparison(StrEnum):
    ABOVE = "above"
    """Breached when the value is greater than the threshold (a backlog, PM2.5)."""
    BELOW = "below"
    """Breached when the value is less than the threshold (an on-time rate)."""


class RuleError(ValueError):
    """A rule whose thresholds contradict each other."""


@dataclass(frozen=True, slots=True)
class Condition:
    comparison: Comparison
    threshold: float
    recovery: float
    """Where the value must come back to before the alert resolves."""
    pending_for: timedelta = timedelta(0)
    """How long a breach must hold before the alert fires."""

    def __post_init__(self) -> None:
        if self.pending_for < timedelta(0):
            raise RuleError("the pending period cannot be negative")
        if self.comparison is Comparison.ABOVE and self.recovery > self.threshold:
            raise RuleError(f"an 'above' rule recovers at or below its threshold; "
                            f"recovery {self.recovery} > threshold {self.threshold}")
        if self.comparison is Comparison.BELOW and self.recovery < self.threshold:
            raise RuleError(f"a 'below' rule recovers at or above its threshold; "
                            f"recovery {self.recovery} < threshold {self.threshold}")

    def breached(self, value: float) -> bool:
        return value > self.threshold if self.comparison is Comparison.ABOVE else value < self.threshold

    def recovered(self, value: float) -> bool:
        return value <= self.recovery if self.comparison is Comparison.ABOVE else value >= self.recovery


@dataclass(frozen=True, slots=True)
class Track:
    """What is known of one (rule, scope)."""

    state: State = State.INACTIVE
    since: datetime | None = None
    """When the current state began (for pending: when the breach began)."""
    value: float | None = None
    """The last value judged."""


class Event(StrEnum):
    """What a step did, for notifications and the audit trail."""

    PENDING = "pending"
    CANCELLED = "cancelled"
    FIRED = "fired"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


def step(condition: Condition, track: Track, value: float | None, at: datetime
         ) -> tuple[Track, Event | None]:
    """Judge one value (or, with the last value again, the passing of time) at ``at``."""
    if value is None:
        return track, None
    seen = replace(track, value=value)
    breached = condition.breached(value)
    state = track.state
    if state in (State.INACTIVE, State.RESOLVED):
        if not breached:
            return seen, None
        if condition.pending_for <= timedelta(0):
            return Track(State.FIRING, at, value), Event.FIRED
        return Track(State.PENDING, at, value), Event.PENDING
    if state is State.PENDING:
        if not breached:
            return Track(State.INACTIVE, at, value), Event.CANCELLED
        assert track.since is not None
        if at - track.since >= condition.pending_for:
            return Track(State.FIRING, at, value), Event.FIRED
        return seen, None
    if condition.recovered(value):  # firing or acknowledged
        return Track(State.RESOLVED, at, value), Event.RESOLVED
    return seen, None


def acknowledge(track: Track, at: datetime) -> tuple[Track, Event | None]:
    """An operator acknowledges a firing alert; anything else is left as it is."""
    if track.state is not State.FIRING:
        return track, None
    return Track(State.ACKNOWLEDGED, at, track.value), Event.ACKNOWLEDGED
