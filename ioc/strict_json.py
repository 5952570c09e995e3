"""Strict JSON for events (docs/contract/events.md, "Strict JSON and size"). Pure.

What Python's :mod:`json` accepts and an event may not carry:

- duplicate member names in an object (``json`` keeps the last one silently);
- ``NaN``, ``Infinity``, ``-Infinity``, and number literals that overflow a double
  (``1e999``, an integer of more than 308 digits);
- strings holding a lone UTF-16 surrogate (``"\\ud800"``): not Unicode, cannot be stored;
- nesting deeper than :data:`MAX_DEPTH` levels (the parser itself stops near 1,000 with a
  ``RecursionError``, which must not escape as a server error).

An event whose own compact UTF-8 serialization exceeds :data:`MAX_EVENT_BYTES` is
``too_large``; the caller checks that, since it holds the serialization.

A batch body is parsed once by :func:`parse`: a fault inside one event does not make the
whole body unreadable; it is left in place as a :class:`Fault` and :func:`fault_of` finds
it for that event alone, so the batch rejects that event by index. Only a body that cannot
be read at all (malformed, or nested beyond the parser's limit) raises
:class:`StrictJSONError`. :func:`loads` is the one-event form (a Kafka record): any fault
raises.
"""

from __future__ import annotations

import json
import math
import re
import threading
from dataclasses import dataclass
from typing import Any, NamedTuple

MAX_EVENT_BYTES = 64 * 1024
"""One event's own serialized size (docs/contract/events.md): beyond it, ``too_large``."""
MAX_DEPTH = 64
"""Levels of nesting an event may have (the envelope is level 1, ``data`` level 2)."""
_MAX_NUMBER_CHARS = 309
"""An integer literal longer than this may exceed a double's range (1.8e308)."""
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class StrictJSONError(ValueError):
    """The text breaks the strict-JSON rules; the message says where and how."""


@dataclass(frozen=True, slots=True)
class Fault:
    """Stands, in a parsed body, for a value that breaks the rules (why: ``reason``)."""

    reason: str
    partial: dict[str, Any] | None = None
    """For an object with duplicate names: its members, the last of each name (to name the
    event's id and source in the rejection; never published)."""


class Parsed(NamedTuple):
    value: Any
    faulty: bool
    """Some :class:`Fault` is somewhere in ``value``."""


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


_local = threading.local()
"""Faults found by the parse running in this thread (the decoder is shared, its hooks are not
told which parse they serve)."""


def _fault(reason: str, partial: dict[str, Any] | None = None) -> Fault:
    _local.faults = getattr(_local, "faults", 0) + 1
    return Fault(reason, partial)


def _pairs(members: list[tuple[str, Any]]) -> Any:
    obj = dict(members)
    if len(obj) == len(members):
        return obj
    seen: set[str] = set()
    for name, _ in members:
        if name in seen:
            break
        seen.add(name)
    return _fault(f"duplicate member name '{_short(name)}'", obj)


def _constant(name: str) -> Any:
    return _fault(f"non-finite number {name} (JSON has none)")


def _real(literal: str) -> Any:
    value = float(literal)
    return value if math.isfinite(value) else _fault(f"number {_short(literal)} overflows a double")


def _integer(literal: str) -> Any:
    if len(literal) <= _MAX_NUMBER_CHARS:
        return int(literal)
    return _fault(f"integer of {len(literal):,} characters overflows a double")


_DECODER = json.JSONDecoder(object_pairs_hook=_pairs, parse_constant=_constant, parse_float=_real,
                            parse_int=_integer)


def parse(text: str) -> Parsed:
    """Parse a body; faults inside it become :class:`Fault` values (see the module doc).

    Raises :class:`StrictJSONError` when the text as a whole is not JSON."""
    _local.faults = 0
    try:
        value = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise StrictJSONError(f"malformed JSON: {exc.msg} at line {exc.lineno} "
                              f"column {exc.colno}") from None
    except RecursionError:
        raise StrictJSONError(f"nested too deeply (an event may have at most {MAX_DEPTH} "
                              "levels)") from None
    return Parsed(value, _local.faults > 0)


def _brackets(text: bytes | str) -> int:
    if isinstance(text, bytes):
        return text.count(b"{") + text.count(b"[")
    return text.count("{") + text.count("[")


def fault_of(value: Any, serialized: bytes | str | None = None, faulty: bool = True) -> str | None:
    """Why one event (a parsed value) breaks the rules, or None.

    ``serialized``, its compact serialization, when known, lets an event with few brackets
    skip the walk; ``faulty=False`` says :func:`parse` found no fault in the whole body."""
    if isinstance(value, Fault):
        return value.reason
    if not faulty and serialized is not None and _brackets(serialized) <= MAX_DEPTH:
        return None
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return f"nested deeper than {MAX_DEPTH} levels"
        for child in (node.values() if isinstance(node, dict) else
                      node if isinstance(node, list) else ()):
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
            elif isinstance(child, Fault):
                return child.reason
    return None


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON of a parsed value (what goes to Kafka).

    Raises :class:`StrictJSONError` for what cannot be written as strict JSON."""
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"),
                          allow_nan=False).encode()
    except UnicodeEncodeError:
        raise StrictJSONError("a string holds a lone UTF-16 surrogate (not Unicode)") from None
    except RecursionError:
        raise StrictJSONError(f"nested deeper than {MAX_DEPTH} levels") from None
    except (TypeError, ValueError) as exc:  # a Fault left in place, a non-finite float
        raise StrictJSONError(f"not strict JSON: {exc}") from None


def decode_utf8(raw: bytes | str) -> str:
    if isinstance(raw, str):
        return raw
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StrictJSONError(f"body is not valid UTF-8 (byte {exc.start})") from None


def loads(raw: bytes | str) -> Any:
    """One event's text, strictly: any fault raises :class:`StrictJSONError`."""
    text = decode_utf8(raw)
    parsed = parse(text)
    reason = fault_of(parsed.value, text, parsed.faulty)
    if reason is not None:
        raise StrictJSONError(reason)
    if _SURROGATE_ESCAPE.search(text):
        dumps(parsed.value)
    return parsed.value
