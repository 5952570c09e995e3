"""One client of the live feed: a bounded buffer that keeps only the latest value per key,
and its own sender, so a slow client never delays the others; one that stays stuck is
disconnected. The hub (api/fanout.py) offers it the changes it subscribed to.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from prometheus_client import Counter, Histogram

from api.fanout import BatchFrames, Shared, Subscription, encode
from ioc.changes import change_key

WS_DISCONNECTS = Counter("ioc_ws_disconnects_total", "Clients disconnected by the server", ["reason"])
FEED_DELAY = Histogram("ioc_feed_delay_seconds", "KPI committed by the worker → its frame written to a "
                       "client's socket (the oldest value of each frame)",
                       buckets=(0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1, 2, 5))


def snapshot_versions(message: dict[str, Any]) -> dict[str, int]:
    """The version of each value a snapshot holds, by change key."""
    return {change_key(v): int(v.get("version", 0)) for v in message["values"]}


class ClientSession:
    """One connected client: a latest-value-per-key buffer and its own sender.

    ``frames`` are the ``batch`` frames shared with the hub's other clients (its own when
    not given); ``wall_clock`` (epoch seconds) times the delay from commit to socket."""

    def __init__(self, send: Callable[[str], Awaitable[None]], *, buffer_limit: int,
                 stuck_timeout_s: float, heartbeat_s: float, flush_interval_s: float = 0.0,
                 frames: BatchFrames | None = None,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self._send = send
        self._limit = buffer_limit
        self._stuck = stuck_timeout_s
        self._heartbeat = heartbeat_s
        self._flush = flush_interval_s
        self._frames = frames if frames is not None else BatchFrames()
        self._wall_clock = wall_clock
        self._others: dict[str, dict[str, Any]] = {}
        """Pending messages that are not KPI values (snapshot first), each under its own key."""
        self._values: dict[str, Shared] = {}
        """Pending ``kpi`` values, the latest per key."""
        self._versions: dict[str, int] = {}
        self._wakeup = asyncio.Event()
        self._urgent = asyncio.Event()
        """Set when something other than a KPI value waits (a snapshot, an answer, an alert,
        a close): the sender does not wait out its flush interval for it."""
        self.subscription = Subscription()
        self._holding = False
        """Nothing is sent between a change of subscription and its snapshot."""
        self.closed_reason: str | None = None

    def resubscribe(self, subscription: Subscription) -> None:
        """Take ``subscription`` from now on; everything waits until its snapshot is queued
        (:meth:`snapshot`), so the snapshot is the first thing sent after it (an alert sent
        ahead of it could be undone by it, the snapshot having been read before)."""
        self.subscription = subscription
        self._holding = True

    def snapshot(self, message: dict[str, Any], versions: Mapping[str, int] | None = None) -> None:
        """Queue a snapshot ahead of everything pending; drop pending values it supersedes.
        ``versions``: its values' versions by change key, when already worked out (a
        snapshot shared by many clients, api/snapshots.py). Pending values the subscription
        no longer wants are dropped too."""
        self._versions.update(snapshot_versions(message) if versions is None else versions)
        versions, wants = self._versions, self.subscription.wants
        self._values = {k: m for k, m in self._values.items()
                        if m.version > versions.get(k, 0) and wants(m)}
        self._holding = False
        self._others = {f"snapshot|{id(message)}": message, **self._others}
        self._urgent.set()
        self._wakeup.set()

    def offer(self, message: dict[str, Any]) -> None:
        if self.closed_reason is not None or not self.subscription.wants(message):
            return
        self.offer_wanted([message if isinstance(message, Shared) else Shared(message)])

    def offer_wanted(self, messages: list[Shared]) -> None:
        """Take ``kpi`` messages already known to match this client's subscription."""
        if self.closed_reason is not None or not messages:
            return
        versions, pending = self._versions, self._values
        for message in messages:
            if message.version and versions.get(message.key, 0) >= message.version:
                continue  # older than what the client has
            pending[message.key] = message
        if len(pending) + len(self._others) > self._limit:
            self.close("buffer_overflow")
        self._wakeup.set()

    def push(self, message: dict[str, Any]) -> None:
        """Queue a message that is not a KPI value (snapshot, alert), under its own key."""
        self._others[f"{message['type']}|{id(message)}"] = message
        self._urgent.set()
        self._wakeup.set()

    def close(self, reason: str) -> None:
        if self.closed_reason is None:
            self.closed_reason = reason
            WS_DISCONNECTS.labels(reason).inc()
        self._urgent.set()
        self._wakeup.set()

    async def run_sender(self) -> None:
        """Send what is pending until closed; a send stuck past the limit closes the client.

        Each round sends the non-KPI messages (snapshot first) one per frame, then every
        pending ``kpi`` value in one frame (a ``batch`` when there are several), then waits
        ``flush_interval_s`` while new values coalesce: a thousand wall screens cost a few
        frames a second each, not one per changed value. A snapshot, an answer or an alert
        does not wait out that interval (a wall that changes its subscription gets its
        snapshot at once)."""
        loop = asyncio.get_running_loop()
        while self.closed_reason is None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._heartbeat):  # no task per round, unlike wait_for
                    await self._wakeup.wait()
            self._wakeup.clear()
            self._urgent.clear()
            if self.closed_reason is not None:
                break
            if self._holding:
                continue  # everything waits for the new subscription's snapshot
            others, self._others = self._others, {}
            values, self._values = self._values, {}
            if not others and not values:
                others = {"heartbeat": {"type": "heartbeat", "ts": loop.time()}}
            frames = [encode(m) for m in others.values()]
            committed = 0.0
            if len(values) == 1:
                (only,) = values.values()
                frames.append(only.text())
                committed = only.changed
            elif values:
                text, committed = self._frames.frame(list(values.values()))
                frames.append(text)
            for frame in frames:
                try:
                    async with asyncio.timeout(self._stuck):  # no task per send, unlike wait_for
                        await self._send(frame)
                except TimeoutError:
                    self.close("stuck")
                    return
            if committed:
                FEED_DELAY.observe(self._wall_clock() - committed)
            sent = self._versions
            for key, message in values.items():
                if message.version > sent.get(key, 0):  # a snapshot queued meanwhile may be newer
                    sent[key] = message.version
            if self._flush > 0 and not self._urgent.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._flush):
                        await self._urgent.wait()
