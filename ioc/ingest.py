"""HTTP ingest, the pure part: a request body judged into records to publish and rejections.

No I/O. The API route reads the body (bounded), calls :func:`parse_body` and
:func:`judge_events`, publishes the records and answers; the same rules as the stream
worker decide what is valid.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ioc.events import Event, ReasonCode, Rejection, Rules, too_large_reason, validate_event
from ioc.strict_json import MAX_EVENT_BYTES, Fault, StrictJSONError, decode_utf8, dumps, fault_of, parse

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


@dataclass(frozen=True, slots=True)
class Body:
    """The events of a body, as parsed (strict-JSON faults left in place, see ioc.strict_json)."""

    items: list[Any]
    faulty: bool = False
    """Some item holds a strict-JSON fault: :func:`judge_events` looks for it in each."""


def parse_body(body: bytes, content_type: str | None, max_events: int = MAX_EVENTS) -> Body:
    """The events of a body: one object or an array of them, per the content type.

    A fault inside one event (duplicate names, a non-finite number) is that event's own
    rejection; only a body that cannot be read as a whole is refused (:class:`BodyError`)."""
    kind = media_type(content_type)
    if kind not in CONTENT_TYPES:
        raise BodyError(415, f"unsupported content type '{kind}'; send one of: "
                             + ", ".join(sorted(CONTENT_TYPES)))
    try:
        decoded, faulty = parse(decode_utf8(body))
    except StrictJSONError as exc:
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
        return Body(decoded, faulty)
    if kind in BATCH_TYPES:
        raise BodyError(400, "application/cloudevents-batch+json must be a JSON array of events")
    return Body([decoded], faulty)


def _named(item: Any, name: str) -> str | None:
    obj = item.partial if isinstance(item, Fault) else item
    value = obj.get(name) if isinstance(obj, dict) else None
    return value if isinstance(value, str) else None


def judge_events(body: Body | list[Any], rules: Rules, now: datetime,
                 allowed_sources: tuple[str, ...] | None) -> Judged:
    """Validate each event; note sources the key may not publish for (None: any).

    Each event is judged by its own size (its compact UTF-8 serialization, what is
    published, at most 64 KiB) and strict JSON first, then by :func:`validate_event`."""
    if isinstance(body, list):
        body = Body(body, faulty=True)
    judged = Judged()
    allowed = None if allowed_sources is None else frozenset(allowed_sources)
    for index, item in enumerate(body.items):
        source = item.get("source") if isinstance(item, dict) else None
        if allowed is not None and isinstance(source, str) and source not in allowed:
            judged.forbidden_sources.add(source)
            continue
        value = b""
        fault = fault_of(item) if body.faulty else None  # a Fault cannot be serialized
        if fault is None:
            try:
                value = dumps(item)
            except StrictJSONError as exc:
                fault = str(exc)
        if fault is not None:
            outcome: Event | Rejection = Rejection(ReasonCode.INVALID_JSON, fault)
        elif len(value) > MAX_EVENT_BYTES:
            outcome = Rejection(ReasonCode.TOO_LARGE, too_large_reason(len(value)))
        elif not body.faulty and (fault := fault_of(item, value, faulty=False)) is not None:
            outcome = Rejection(ReasonCode.INVALID_JSON, fault)  # nested too deeply
        else:
            outcome = validate_event(item if isinstance(item, dict) else value, rules, now)
        if isinstance(outcome, Rejection):
            judged.rejected.append(Rejected(index, outcome.id or _named(item, "id"), outcome.reason,
                                            outcome.code.value, outcome.source or _named(item, "source")))
            continue
        judged.publish.append(ToPublish(index, outcome, outcome.entity_key.encode(), value))
    return judged
