"""Fan-out of the live feed: which client wants which change, and the frames that carry them.

Pure and synchronous: no I/O, no threads, no clock. The change consumer
(api/change_consumer.py) hands the changes to the :class:`Hub`, which offers each client
(api/feed_client.py) what its subscription asks for.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
from typing import Any, Protocol

from prometheus_client import Gauge

from ioc.changes import change_key

WS_CLIENTS = Gauge("ioc_ws_clients", "WebSocket clients connected")


class Shared(dict[str, Any]):
    """A message fanned out to many clients: its key and version worked out once, its JSON
    encoded once (by the first sender), however many clients take it."""

    __slots__ = ("_text", "changed", "key", "serial", "version")
    _serials = itertools.count(1)

    def __init__(self, message: dict[str, Any]) -> None:
        super().__init__(message)
        self.key = change_key(message) if message.get("type") == "kpi" else ""
        self.version = int(message.get("version", 0))
        changed_at = message.get("changed_at")
        self.changed = datetime.fromisoformat(changed_at).timestamp() if changed_at else 0.0
        """When the worker committed the value (epoch seconds; 0 if not known)."""
        self.serial: int = next(Shared._serials)
        """This message's number, never given to another in the process (names it in caches)."""

    def text(self) -> str:
        try:
            return self._text
        except AttributeError:
            self._text: str = json.dumps(self, separators=(",", ":"))
            return self._text


def encode(message: dict[str, Any]) -> str:
    return message.text() if isinstance(message, Shared) else json.dumps(message, separators=(",", ":"))


_serials_of = attrgetter("serial")


class BatchFrames:
    """``batch`` frames made once for every client that has the same values pending (after a
    burst, a thousand wall screens do), with the commit time of their oldest value. The hub
    owns one for its clients; it keeps at most ``limit`` frames, then starts over."""

    def __init__(self, limit: int = 256) -> None:
        self._limit = limit
        self._frames: dict[tuple[int, ...], tuple[str, float]] = {}

    def frame(self, messages: list[Shared]) -> tuple[str, float]:
        """The frame's text and when its oldest value was committed (0 if none says)."""
        key = tuple(map(_serials_of, messages))
        hit = self._frames.get(key)
        if hit is not None:
            return hit
        text = '{"type":"batch","messages":[' + ",".join(m.text() for m in messages) + "]}"
        oldest = min((m.changed for m in messages if m.changed), default=0.0)
        if len(self._frames) >= self._limit:
            self._frames.clear()
        made = self._frames[key] = (text, oldest)
        return made


@dataclass(frozen=True, slots=True)
class Subscription:
    kpis: frozenset[str] | None = None
    areas: frozenset[str] | None = None
    """Area codes; "" (or "province") stands for the whole province. None = all."""
    buckets: frozenset[str] | None = None
    """Bucket sizes ("1m", "1h", "1d", "now" for gauges). None = all."""
    stations: frozenset[str] | None = frozenset()
    """Stations whose own sensor aggregates are wanted. Empty (the default) = none; None = all."""
    also: tuple[Subscription, ...] = ()
    """Further (KPIs × areas × buckets) wanted besides these, without stations: a wall wants
    every tile's KPI for the province, but only the KPI it ranks units by for every unit."""

    def wants(self, message: dict[str, Any]) -> bool:
        return self._wants(message) or any(part._wants(message) for part in self.also)

    def all_kpis(self) -> frozenset[str] | None:
        """Every KPI some part wants (None: all)."""
        return _union(self.kpis, *(part.kpis for part in self.also))

    def all_areas(self) -> frozenset[str] | None:
        """Every area some part wants (None: all)."""
        return _union(self.areas, *(part.areas for part in self.also))

    def _wants(self, message: dict[str, Any]) -> bool:
        if self.kpis is not None and message.get("kpi") not in self.kpis:
            return False
        station = message.get("station")
        if station is not None:
            return (self.stations is None or station in self.stations) and (
                self.buckets is None or message.get("bucket") in self.buckets)
        if self.buckets is not None and message.get("bucket") not in self.buckets:
            return False
        return self.areas is None or (message.get("area") or "") in self.areas


def _union(*sets: frozenset[str] | None) -> frozenset[str] | None:
    if any(s is None for s in sets):
        return None
    return frozenset().union(*(s for s in sets if s is not None))


def latest_per_key(messages: Iterable[Shared]) -> list[Shared]:
    """The newest message per key (a burst carries several versions of a value; each client
    would otherwise look at every one of them)."""
    latest: dict[str, Shared] = {}
    for message in messages:
        seen = latest.get(message.key)
        if seen is None or message.version >= seen.version:
            latest[message.key] = message
    return list(latest.values())


class Subscriber(Protocol):
    """A connected client as the hub sees it (api/feed_client.py: ClientSession)."""

    @property
    def subscription(self) -> Subscription: ...

    def offer_wanted(self, messages: list[Shared]) -> None:
        """Take ``kpi`` messages already known to match the subscription."""

    def push(self, message: dict[str, Any]) -> None:
        """Take a message that is not a KPI value (an alert)."""


class Hub:
    """Every connected client of this process, counted per token; offers them the changes."""

    def __init__(self, *, frame_cache: int = 256) -> None:
        self._clients: set[Subscriber] = set()
        self._holders: dict[Subscriber, bytes] = {}
        self._per_holder: dict[bytes, int] = {}
        self.frames = BatchFrames(frame_cache)
        """The ``batch`` frames its clients share (give it to each client's session)."""

    def add(self, client: Subscriber, holder: bytes = b"") -> None:
        """A connected client; ``holder`` identifies its token, for the per-token cap."""
        self._clients.add(client)
        self._holders[client] = holder
        self._per_holder[holder] = self._per_holder.get(holder, 0) + 1
        WS_CLIENTS.set(len(self._clients))

    def remove(self, client: Subscriber) -> None:
        self._clients.discard(client)
        holder = self._holders.pop(client, None)
        if holder is not None:
            left = self._per_holder.get(holder, 1) - 1
            if left > 0:
                self._per_holder[holder] = left
            else:
                self._per_holder.pop(holder, None)
        WS_CLIENTS.set(len(self._clients))

    def connections_of(self, holder: bytes) -> int:
        return self._per_holder.get(holder, 0)

    def publish(self, message: dict[str, Any]) -> None:
        self.publish_many([message])

    def publish_many(self, messages: list[dict[str, Any]]) -> None:
        """Offer ``kpi`` messages to every client; each distinct subscription is matched
        once, not once per client (a thousand wall screens share one)."""
        shared = [m if isinstance(m, Shared) else Shared(m) for m in messages]
        wanted: dict[Subscription, list[Shared]] = {}
        for client in list(self._clients):
            subscription = client.subscription
            chosen = wanted.get(subscription)
            if chosen is None:
                chosen = wanted[subscription] = latest_per_key(m for m in shared if subscription.wants(m))
            client.offer_wanted(chosen)

    def broadcast(self, message: dict[str, Any]) -> None:
        """Send a message to every client whatever its subscription (alerts)."""
        for client in list(self._clients):
            client.push(message)

    def __len__(self) -> int:
        return len(self._clients)
