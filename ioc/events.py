"""The event contract (docs/contract/events.md): CloudEvents 1.0 envelope and the eight types.

:func:`validate_event` is pure: bytes in, an :class:`Event` or a :class:`Rejection` out.
The clock and the geography are parameters, so the same rules hold over HTTP, in
connectors and in the stream worker.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal, cast

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from ioc.event_data import (
    _NO_CONTROL,
    DATA_MODELS,
    DossierRated,
    DossierReceived,
    DossierResolved,
    DossierWithdrawn,
    EventData,
    FeedbackReceived,
    FeedbackResolved,
    PaymentCompleted,
    Timestamp,
)
from ioc.geography import Geography
from ioc.settings import Settings
from ioc.strict_json import MAX_EVENT_BYTES, StrictJSONError, loads


class ReasonCode(StrEnum):
    """Why an event was rejected; a bounded set, used as a metric label."""

    INVALID_JSON = "invalid_json"
    """Also duplicate member names, non-finite numbers, nesting beyond 64 levels."""
    TOO_LARGE = "too_large"
    """The event's own serialization is over 64 KiB."""
    INVALID_ENVELOPE = "invalid_envelope"
    UNKNOWN_TYPE = "unknown_type"
    INVALID_DATA = "invalid_data"
    UNKNOWN_AREA = "unknown_area"
    FUTURE_TIME = "future_time"
    TOO_OLD = "too_old"


SOURCE_CHARS = r"[a-z0-9._-]"
"""What a ``source`` is made of (docs/contract/events.md): 1..64 of these."""
_SOURCE = re.compile(f"{SOURCE_CHARS}{{1,64}}")


def is_source(text: str) -> bool:
    """A well-formed ``source`` (1..64 of ``[a-z0-9._-]``)."""
    return _SOURCE.fullmatch(text) is not None


class Envelope(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    specversion: Literal["1.0"]
    id: str = Field(min_length=1, max_length=128)
    source: str = Field(min_length=1, max_length=64, pattern=f"^{SOURCE_CHARS}+$")
    type: str = Field(min_length=1)
    time: Timestamp
    datacontenttype: str | None = None
    data: dict[str, Any]

    @field_validator("id")
    @classmethod
    def _printable(cls, value: str) -> str:
        if not value.isprintable():
            raise ValueError("must contain only printable characters")
        return value

    @model_validator(mode="after")
    def _json_content(self) -> Envelope:
        if self.datacontenttype not in (None, "application/json"):
            raise ValueError("datacontenttype must be application/json when present")
        return self


@dataclass(frozen=True, slots=True)
class Event:
    """An accepted event: valid envelope, valid data, known area, time within limits."""

    source: str
    id: str
    type: str
    time: datetime
    data: EventData
    dedup_key: bytes = field(init=False, repr=False, compare=False)
    """:func:`dedup_key` of (source, id), computed once: a batch asks for it several times."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "dedup_key", dedup_key(self.source, self.id))

    @property
    def entity_key(self) -> str:
        return entity_key(self.data)


@dataclass(frozen=True, slots=True)
class Rejection:
    code: ReasonCode
    reason: str
    source: str | None = None
    id: str | None = None


def dedup_key(source: str, event_id: str) -> bytes:
    """A 16-byte digest of (source, id): the deduplication key, fixed size in storage."""
    return hashlib.blake2b(f"{source}\x00{event_id}".encode(), digest_size=16).digest()


def entity_key(data: EventData) -> str:
    """The Kafka key: everything about one entity lands in one partition."""
    if isinstance(data, DossierReceived | DossierResolved | DossierWithdrawn | DossierRated):
        return data.dossier_id
    if isinstance(data, FeedbackReceived | FeedbackResolved):
        return data.feedback_id
    if isinstance(data, PaymentCompleted):
        return data.payment_id
    return data.station_id


def describe_errors(error: ValidationError, prefix: str = "") -> str:
    """Readable sentences naming each field at fault."""
    parts = []
    for err in error.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"] if p != "function-after[_json_content()]")
        field = f"{prefix}{loc}" if loc else prefix.rstrip(".") or "event"
        message = str(err["msg"])
        if message.startswith("Value error, "):
            message = message[len("Value error, "):]
        if err["type"] == "string_pattern_mismatch" and err.get("ctx", {}).get("pattern") == _NO_CONTROL:
            message = "must not contain control characters (U+0000 to U+001F, U+007F)"
        if err["type"] == "missing":
            parts.append(f"field '{field}' is required")
        else:
            parts.append(f"field '{field}': {message}")
    return "; ".join(parts)


@dataclass(frozen=True, slots=True)
class Rules:
    """The time and geography rules an event is judged by."""

    geography: Geography
    lateness_limit: timedelta = timedelta(days=7)
    future_tolerance: timedelta = timedelta(minutes=5)


def rules_of(settings: Settings, geography: Geography) -> Rules:
    """The rules the settings ask for, over the deployment's geography."""
    return Rules(geography=geography,
                 lateness_limit=timedelta(seconds=settings.lateness_limit_s),
                 future_tolerance=timedelta(seconds=settings.future_tolerance_s))


def parse_json(raw: bytes | str) -> Any:
    """Decode one event's UTF-8 strict JSON (ioc.strict_json); raises ValueError with a
    readable message."""
    return loads(raw)


def validate_event(raw: bytes | str | dict[str, Any], rules: Rules, now: datetime) -> Event | Rejection:
    """Judge one event. Pure: no I/O; ``now`` is when it is judged.

    Text is judged by its size (at most 64 KiB) and strict JSON first; a dict is taken as
    already judged so (ioc.ingest.judge_events does it for a batch)."""
    if isinstance(raw, dict):
        obj: Any = raw
    else:
        size = len(raw) if isinstance(raw, bytes) else len(raw.encode("utf-8", "surrogatepass"))
        if size > MAX_EVENT_BYTES:
            return Rejection(ReasonCode.TOO_LARGE, too_large_reason(size))
        try:
            obj = loads(raw)
        except StrictJSONError as exc:
            return Rejection(ReasonCode.INVALID_JSON, str(exc))
    if not isinstance(obj, dict):
        return Rejection(ReasonCode.INVALID_ENVELOPE, "an event must be a JSON object")
    ident = obj.get("id") if isinstance(obj.get("id"), str) else None
    source = obj.get("source") if isinstance(obj.get("source"), str) else None
    try:
        envelope = Envelope.model_validate(obj)
    except ValidationError as exc:
        return Rejection(ReasonCode.INVALID_ENVELOPE, describe_errors(exc), source, ident)
    model = DATA_MODELS.get(envelope.type)
    if model is None:
        known = ", ".join(sorted(DATA_MODELS))
        return Rejection(
            ReasonCode.UNKNOWN_TYPE,
            f"field 'type': unknown event type '{envelope.type}' (known: {known})",
            source, ident,
        )
    try:
        data = cast(EventData, model.model_validate(envelope.data))
    except ValidationError as exc:
        return Rejection(ReasonCode.INVALID_DATA, describe_errors(exc, "data."), source, ident)
    area = rules.geography.canonical(data.area)
    if area is None:
        return Rejection(
            ReasonCode.UNKNOWN_AREA,
            f"field 'data.area': unknown area code '{data.area}' (not a unit of "
            f"{rules.geography.province_name}; GET /api/v1/areas lists them)",
            source, ident,
        )
    if area != data.area:
        data = data.model_copy(update={"area": area})
    if isinstance(data, DossierReceived) and data.due_at <= envelope.time:
        return Rejection(
            ReasonCode.INVALID_DATA, "field 'data.due_at': must be after the event's time",
            source, ident,
        )
    if envelope.time > now + rules.future_tolerance:
        return Rejection(
            ReasonCode.FUTURE_TIME,
            f"field 'time': {envelope.time.isoformat()} is more than "
            f"{_human(rules.future_tolerance)} in the future",
            source, ident,
        )
    if envelope.time < now - rules.lateness_limit:
        return Rejection(
            ReasonCode.TOO_OLD,
            f"field 'time': {envelope.time.isoformat()} is older than the lateness limit of "
            f"{_human(rules.lateness_limit)}",
            source, ident,
        )
    return Event(envelope.source, envelope.id, envelope.type, envelope.time, data)


def too_large_reason(size: int) -> str:
    return f"the event is {size:,} bytes; at most {MAX_EVENT_BYTES:,} (64 KiB)"


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds % 86400 == 0:
        return f"{seconds // 86400} days"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} hours"
    if seconds % 60 == 0:
        return f"{seconds // 60} minutes"
    return f"{seconds} seconds"


def with_v1_area(fields: dict[str, Any]) -> dict[str, Any]:
    """An integrator's record with its v1 ``district`` given as ``area`` (when it has no
    ``area``): what the connectors map from. Pure."""
    if "area" not in fields and "district" in fields:
        return {**{k: v for k, v in fields.items() if k != "district"}, "area": fields["district"]}
    return fields


def to_cloudevent(
    *, source: str, event_id: str, type_: str, time: datetime | str, data: dict[str, Any]
) -> dict[str, Any]:
    """Build the structured-JSON CloudEvent for publishing. ``time`` is a datetime, or a value
    passed on as received (a connector maps fields as they are; validation judges them)."""
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": source,
        "type": type_,
        "time": time.isoformat() if isinstance(time, datetime) else time,
        "datacontenttype": "application/json",
        "data": data,
    }
