"""Dead letters: every rejected event, as the store keeps it (docs/contract/api.md). Pure.

Three ways in, each exactly once:

- **HTTP ingest** (``origin`` ``http``, or ``replay`` for ``POST /api/v1/deadletters/{id}/replay``):
  the API writes them before it answers 202;
- **the stream worker** (``kafka:<events topic>``): inserted in the batch's own transaction,
  with the offsets, so a redelivered record cannot add one twice;
- **the dead-letter topic** (``connector:<name>``, or ``kafka:<dead-letter topic>`` for a
  record of unknown origin): copied by the worker with that topic's offsets in the same
  transaction. Records the worker itself put there (header ``ioc-original-topic``) are
  skipped: they are stored already.

What makes a retry harmless is :attr:`DeadLetter.digest` of (origin, reason, body): a dead
letter not yet replayed is stored once (a unique index), so the same bytes rejected for the
same reason the same way in (an HTTP client retrying after a 503, a connector re-reading
its input after a crash, the intake journal re-sent to a new broker) are one dead letter.
Once replayed, the same bytes rejected again are a new one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ioc.events import Rejection
from ioc.ingest import Body, Judged
from ioc.intake import RawRecord, received_at_of
from ioc.strict_json import Fault, StrictJSONError, decode_utf8, parse

HTTP = "http"
REPLAY = "replay"
ORIGIN_KINDS = ("http", "replay", "kafka", "connector")
"""The ``origin`` label values of the stored-dead-letters counter (bounded)."""

MIN_RETENTION = timedelta(days=7)
WORKER_HEADER = "ioc-original-topic"
"""Set by the stream worker on its dead letters (streams.batch.deadletter_record)."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    reason: str
    """The reason code (ioc.events.ReasonCode, or what a connector gave)."""
    detail: str
    body: bytes
    """The event's own original bytes: one element of a batch, or the whole record."""
    origin: str
    received_at: datetime
    event_id: str | None = None
    source: str | None = None

    def __post_init__(self) -> None:
        # Its text goes into PostgreSQL text columns, which refuse NUL and need valid
        # UTF-8: a rejected event's id, source or detail may carry either (the bytes
        # themselves are kept as they came, in ``body``).
        for name in ("reason", "detail", "origin", "event_id", "source"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, storable_text(value))

    @property
    def digest(self) -> bytes:
        """Identity of a dead letter while it waits: (origin, reason, body)."""
        h = hashlib.blake2b(digest_size=16)
        for part in (self.origin.encode(), self.reason.encode(), self.body):
            h.update(len(part).to_bytes(8, "big"))
            h.update(part)
        return h.digest()


def storable_text(text: str) -> str:
    """``text`` with NUL and unpaired surrogates replaced by U+FFFD."""
    if "\x00" not in text and text.isascii():
        return text
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace").replace("\x00", "\ufffd")


def worker_origin(topic: str) -> str:
    return f"kafka:{topic}"


def origin_kind(origin: str) -> str:
    kind = origin.split(":", 1)[0]
    return kind if kind in ORIGIN_KINDS else "kafka"


def retention(lateness_limit_s: int) -> timedelta:
    """How long a dead letter is kept: at least the lateness limit, and a week."""
    return max(timedelta(seconds=lateness_limit_s), MIN_RETENTION)


def _text(value: bytes | None) -> str | None:
    return value.decode("utf-8", "replace") if value is not None else None


def _named(body: bytes, name: str) -> str | None:
    """A string member of a JSON object body (for the id and source of a connector's dead
    letter), or None."""
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    found = value.get(name) if isinstance(value, dict) else None
    return found if isinstance(found, str) else None


def of_rejected_record(record: RawRecord, rejection: Rejection, now: datetime) -> DeadLetter:
    """A record of the events topic the stream worker rejected."""
    return DeadLetter(rejection.code.value, rejection.reason, record.value,
                      worker_origin(record.topic), record.received_at or now,
                      rejection.id, rejection.source)


def of_topic_record(value: bytes, headers: Mapping[str, bytes], topic: str,
                    now: datetime) -> DeadLetter | None:
    """A record of the dead-letter topic, or None when the stream worker put it there (its
    dead letters are stored in its own batch transaction)."""
    if WORKER_HEADER in headers:
        return None
    connector = _text(headers.get("ioc-connector"))
    code = _text(headers.get("ioc-reason-code")) or "unknown"
    reason = _text(headers.get("ioc-reason")) or ""
    when = received_at_of(headers) or now
    if connector:
        return of_connector(value, code, reason, connector, when)
    return DeadLetter(code, reason, value, worker_origin(topic), when,
                      _named(value, "id"), _named(value, "source"))


def of_connector(value: bytes, code: str, reason: str, connector: str,
                 received_at: datetime) -> DeadLetter:
    """Input a connector could not map: what it writes to the store itself (with the intake
    journal on) and what the copy of the dead-letter topic makes of it, the same dead letter."""
    return DeadLetter(code, reason, value, f"connector:{connector}", received_at,
                      _named(value, "id"), _named(value, "source"))


def header_map(headers: Iterable[tuple[str, bytes]] | Mapping[str, bytes] | None) -> dict[str, bytes]:
    if not headers:
        return {}
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    return {k: v for k, v in pairs if isinstance(v, bytes)}


def element_texts(text: str) -> list[str] | None:
    """The original text of each event of a body: the elements of a top-level array, or
    the whole text for one object; None when they cannot be told apart."""
    decoder = json.JSONDecoder()
    stripped = text.strip()
    if not stripped.startswith("["):
        return [stripped]
    texts: list[str] = []
    pos = text.index("[") + 1
    try:
        while True:
            while pos < len(text) and text[pos] in " \t\r\n":
                pos += 1
            if text.startswith("]", pos):
                return texts
            _, end = decoder.raw_decode(text, pos)
            texts.append(text[pos:end])
            pos = end
            while pos < len(text) and text[pos] in " \t\r\n":
                pos += 1
            if text.startswith(",", pos):
                pos += 1
            elif not text.startswith("]", pos):
                return None
    except (ValueError, RecursionError):
        return None


def of_http(body: bytes, judged: Judged, received_at: datetime, origin: str = HTTP,
            *, whole: bool = False) -> list[DeadLetter]:
    """The dead letters of a judged request body, each with its own text (the whole body
    when ``whole``, one event's bytes, or when the elements cannot be told apart)."""
    if not judged.rejected:
        return []
    texts = None if whole else element_texts(body.decode("utf-8", "replace"))
    return [DeadLetter(r.code, r.reason,
                       texts[r.index].encode() if texts and r.index < len(texts) else body,
                       origin, received_at, r.id, r.source)
            for r in judged.rejected]


def replay_body(raw: bytes) -> Body:
    """A stored dead letter's bytes as a one-event body for :func:`ioc.ingest.judge_events`;
    bytes that are not JSON at all become a fault, rejected as ``invalid_json`` again."""
    try:
        parsed = parse(decode_utf8(raw))
    except StrictJSONError as exc:
        return Body([Fault(str(exc))], faulty=True)
    return Body([parsed.value], parsed.faulty)


@dataclass(frozen=True, slots=True)
class Listed:
    """A dead letter as the API lists it."""

    id: int
    event_id: str | None
    reason: str
    detail: str
    source: str | None
    received_at: datetime
    body: str
    replayed_at: datetime | None


def listed(row: Sequence[Any]) -> Listed:
    """A stored row (id, event_id, reason, detail, source, received_at, body, replayed_at)."""
    body = bytes(row[6]).decode("utf-8", "replace")
    return Listed(row[0], row[1], row[2], row[3], row[4], row[5].astimezone(UTC), body,
                  row[7].astimezone(UTC) if row[7] is not None else None)
