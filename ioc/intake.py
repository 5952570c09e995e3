"""Triage of a batch of raw records: accepted, duplicate within the batch, or rejected. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from ioc.events import Event, Rejection, Rules, validate_event


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One record as consumed from Kafka."""

    topic: str
    partition: int
    offset: int
    value: bytes
    key: bytes | None = None


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
        outcome = validate_event(record.value, rules, now)
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
