"""HTTP ingest, the pure part: a request body judged into records to publish and rejections.

No I/O. The API route reads the body (bounded), calls :func:`parse_body` and
:func:`judge_events`, publishes the records and answers; the same rules as the stream
worker decide what is valid.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ioc.events import Event, Rejection, Rules, parse_json, validate_event

MAX_EVENTS = 1000
MAX_BYTES = 1024 * 1024

SINGLE_TYPES = frozenset({"application/cloudevents+json"})
BATCH_TYPES = frozenset({"application/cloudevents-batch+json"})
EITHER_TYPES = frozenset({"application/json"})
CONTENT_TYPES = SINGLE_TYPES | BATCH_TYPES | EITHER_TYPES


class BodyError(ValueError):
    """The request as a whole cannot be read (HTTP 400, 413 or 415)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Rejected:
    index: int
    id: str | None
    reason: str
    code: str
    source: str | None


@dataclass(frozen=True, slots=True)
class ToPublish:
    index: int
    event: Event
    key: bytes
    value: bytes


@dataclass(slots=True)
class Judged:
    publish: list[ToPublish] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    forbidden_sources: set[str] = field(default_factory=set)
    """Sources in the body the key may not publish for: the whole request is refused (403)."""


def media_type(content_type: str | None) -> str:
    return (content_type or "application/json").split(";", 1)[0].strip().lower()


def parse_body(body: bytes, content_type: str | None, max_events: int = MAX_EVENTS) -> list[Any]:
    """The events of a body: one object or an array of them, per the content type."""
    kind = media_type(content_type)
    if kind not in CONTENT_TYPES:
        raise BodyError(415, f"unsupported content type '{kind}'; send one of: "
                             + ", ".join(sorted(CONTENT_TYPES)))
    try:
        decoded = parse_json(body)
    except ValueError as exc:
        raise BodyError(400, str(exc)) from None
    if isinstance(decoded, list):
        if kind in SINGLE_TYPES:
            raise BodyError(400, f"{kind} carries one event; send an array as "
                                 "application/cloudevents-batch+json")
        if len(decoded) > max_events:
            raise BodyError(413, f"a batch holds at most {max_events} events; this one has "
                                 f"{len(decoded)}")
        if not decoded:
            raise BodyError(400, "the batch is empty")
        return decoded
    if kind in BATCH_TYPES:
        raise BodyError(400, "application/cloudevents-batch+json must be a JSON array of events")
    return [decoded]


def judge_events(items: list[Any], rules: Rules, now: datetime,
                 allowed_sources: tuple[str, ...] | None) -> Judged:
    """Validate each event; note sources the key may not publish for (None: any)."""
    judged = Judged()
    allowed = None if allowed_sources is None else frozenset(allowed_sources)
    for index, item in enumerate(items):
        source = item.get("source") if isinstance(item, dict) else None
        if allowed is not None and isinstance(source, str) and source not in allowed:
            judged.forbidden_sources.add(source)
            continue
        outcome = validate_event(item if isinstance(item, dict) else json.dumps(item), rules, now)
        if isinstance(outcome, Rejection):
            judged.rejected.append(Rejected(index, outcome.id, outcome.reason, outcome.code.value,
                                            outcome.source))
            continue
        value = json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode()
        judged.publish.append(ToPublish(index, outcome, outcome.entity_key.encode(), value))
    return judged
