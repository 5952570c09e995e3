"""Triage of a batch of raw records: accepted, duplicate within the batch, or rejected. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ioc.events import Event, Rejection, Rules, validate_event

RECEIVED_AT_HEADER = "ioc-received-at"
"""Kafka header with the moment an event first entered the system (HTTP receipt, connector
read), in milliseconds since the epoch: the lateness and future limits are judged against
it, so an event held back by an outage, or re-sent from the intake journal, still counts."""


def received_at_header(at: datetime) -> tuple[str, bytes]:
    return RECEIVED_AT_HEADER, str(round(at.timestamp() * 1000)).encode()


def received_at_of(headers: Iterable[tuple[str, bytes]] | Mapping[str, bytes] | None) -> datetime | None:
    """The entry time carried in a record's headers (pairs or a mapping), if well formed."""
    if not headers:
        return None
    value = (headers if isinstance(headers, Mapping) else dict(headers)).get(RECEIVED_AT_HEADER)
    if not isinstance(value, bytes):
        return None
    try:
        return datetime.fromtimestamp(int(value.decode("ascii")) / 1000, UTC)
    except (ValueError, OverflowError, OSError):
        return None


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One record as consumed from Kafka."""

    topic: str
    partition: int
    offset: int
    value: bytes
    key: bytes | None = None
    received_at: datetime | None = None
    """When the event first entered the system (the ``ioc-received-at`` header), if known."""

    def judged_at(self, now: datetime) -> datetime:
        """The instant its time limits are judged against: its entry time, never later
        than now (a header cannot move an event's judgement into the future)."""
        return now if self.received_at is None else min(self.received_at, now)


@dataclass(slots=True)
class Triage:
    accepted: list[Event] = field(default_factory=list)
    """Valid events, first occurrence of each (source, id) in the batch, in record order."""
    duplicates: list[Event] = field(default_factory=list)
    """Valid events whose (source, id) occurred earlier in the same batch."""
    rejected: list[tuple[RawRecord, Rejection]] = field(default_factory=list)


def triage(records: Sequence[RawRecord], rules: Rules, now: datetime) -> Triage:
    result = Triage()
    seen: set[bytes] = set()
    for record in records:
        outcome = validate_event(record.value, rules, record.judged_at(now))
        if isinstance(outcome, Rejection):
            result.rejected.append((record, outcome))
            continue
        key = outcome.dedup_key
        if key in seen:
            result.duplicates.append(outcome)
        else:
            seen.add(key)
            result.accepted.append(outcome)
    return result


def next_offsets(records: Sequence[RawRecord]) -> dict[tuple[str, int], int]:
    """The offset after the last record of each partition in the batch."""
    result: dict[tuple[str, int], int] = {}
    for r in records:
        tp = (r.topic, r.partition)
        result[tp] = max(result.get(tp, 0), r.offset + 1)
    return result
