"""The live feed: one consumer of KPI changes per API process, fanned out to every client.

Each client has its own sender task and a bounded buffer that keeps only the latest value
per key, so a slow client never delays the others; one that stays stuck is disconnected.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import Counter, Gauge, Histogram

from ioc.changes import change_key, change_messages

log = logging.getLogger(__name__)
T = TypeVar("T")

WS_CLIENTS = Gauge("ioc_ws_clients", "WebSocket clients connected")
WS_DISCONNECTS = Counter("ioc_ws_disconnects_total", "Clients disconnected by the server", ["reason"])
FEED_MESSAGES = Counter("ioc_feed_changes_total", "KPI changes read from the change topic")
FEED_DELAY = Histogram("ioc_feed_delay_seconds", "KPI committed by the worker → its frame written to a "
                       "client's socket (the oldest value of each frame)",
                       buckets=(0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1, 2, 5))


LOOP_LAG = Histogram("ioc_api_event_loop_lag_seconds", "How late a 0.1 s sleep on the API's event loop "
                     "woke up (time the loop was busy with other work)",
                     buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2))


async def watch_loop_lag(interval_s: float = 0.1) -> None:
    loop = asyncio.get_running_loop()
    while True:
        before = loop.time()
        await asyncio.sleep(interval_s)
        LOOP_LAG.observe(max(0.0, loop.time() - before - interval_s))


class Shared(dict[str, Any]):
    """A message fanned out to many clients: its key and version worked out once, its JSON
    encoded once (by the first sender), however many clients take it."""

    __slots__ = ("_text", "changed", "key", "version")

    def __init__(self, message: dict[str, Any]) -> None:
        super().__init__(message)
        self.key = change_key(message) if message.get("type") == "kpi" else ""
        self.version = int(message.get("version", 0))
        changed_at = message.get("changed_at")
        self.changed = datetime.fromisoformat(changed_at).timestamp() if changed_at else 0.0
        """When the worker committed the value (epoch seconds; 0 if not known)."""

    def text(self) -> str:
        try:
            return self._text
        except AttributeError:
            self._text: str = json.dumps(self, separators=(",", ":"))
            return self._text


class BatchFrames:
    """``batch`` frames made once for every client that has the same values pending (after a
    burst, a thousand wall screens do), with the commit time of their oldest value: the
    cache holds the messages, so their ids are not reused while it does."""

    def __init__(self, limit: int = 256) -> None:
        self._limit = limit
        self._frames: dict[tuple[int, ...], tuple[list[dict[str, Any]], str, float]] = {}

    def frame(self, messages: list[dict[str, Any]]) -> tuple[str, float]:
        """The frame's text and when its oldest value was committed (0 if none says)."""
        key = tuple(map(id, messages))
        hit = self._frames.get(key)
        if hit is not None:
            return hit[1], hit[2]
        text = '{"type":"batch","messages":[' + ",".join(encode(m) for m in messages) + "]}"
        oldest = min((m.changed for m in messages if isinstance(m, Shared) and m.changed), default=0.0)
        if len(self._frames) >= self._limit:
            self._frames.clear()
        self._frames[key] = (messages, text, oldest)
        return text, oldest


BATCH_FRAMES = BatchFrames()


def encode(message: dict[str, Any]) -> str:
    return message.text() if isinstance(message, Shared) else json.dumps(message, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class Subscription:
    kpis: frozenset[str] | None = None
    districts: frozenset[str] | None = None
    """District codes; "" (or "province") stands for the whole province. None = all."""
    buckets: frozenset[str] | None = None
    """Bucket sizes ("1m", "1h", "1d", "now" for gauges). None = all."""
    stations: frozenset[str] | None = frozenset()
    """Stations whose own sensor aggregates are wanted. Empty (the default) = none; None = all."""

    def wants(self, message: dict[str, Any]) -> bool:
        if self.kpis is not None and message.get("kpi") not in self.kpis:
            return False
        station = message.get("station")
        if station is not None:
            return (self.stations is None or station in self.stations) and (
                self.buckets is None or message.get("bucket") in self.buckets)
        if self.buckets is not None and message.get("bucket") not in self.buckets:
            return False
        return self.districts is None or (message.get("district") or "") in self.districts


class ClientSession:
    """One connected client: a latest-value-per-key buffer and its own sender."""

    def __init__(self, send: Callable[[str], Awaitable[None]], *, buffer_limit: int,
                 stuck_timeout_s: float, heartbeat_s: float, flush_interval_s: float = 0.0) -> None:
        self._send = send
        self._limit = buffer_limit
        self._stuck = stuck_timeout_s
        self._heartbeat = heartbeat_s
        self._flush = flush_interval_s
        self._pending: dict[str, dict[str, Any]] = {}
        self._versions: dict[str, int] = {}
        self._wakeup = asyncio.Event()
        self.subscription = Subscription()
        self.closed_reason: str | None = None

    def snapshot(self, message: dict[str, Any]) -> None:
        """Queue a snapshot ahead of everything pending; drop pending values it supersedes."""
        for value in message["values"]:
            self._versions[change_key(value)] = int(value.get("version", 0))
        newer = {k: m for k, m in self._pending.items()
                 if m.get("type") != "kpi" or int(m.get("version", 0)) > self._versions.get(k, 0)}
        self._pending = {f"snapshot|{id(message)}": message, **newer}
        self._wakeup.set()

    def offer(self, message: dict[str, Any]) -> None:
        if self.closed_reason is not None or not self.subscription.wants(message):
            return
        self.offer_wanted([message if isinstance(message, Shared) else Shared(message)])

    def offer_wanted(self, messages: list[Shared]) -> None:
        """Take ``kpi`` messages already known to match this client's subscription."""
        if self.closed_reason is not None or not messages:
            return
        versions, pending = self._versions, self._pending
        for message in messages:
            if message.version and versions.get(message.key, 0) >= message.version:
                continue  # older than what the client has
            pending[message.key] = message
        if len(pending) > self._limit:
            self.close("buffer_overflow")
        self._wakeup.set()

    def push(self, message: dict[str, Any]) -> None:
        """Queue a message that is not a KPI value (snapshot, alert), under its own key."""
        self._pending[f"{message['type']}|{id(message)}"] = message
        self._wakeup.set()

    def close(self, reason: str) -> None:
        if self.closed_reason is None:
            self.closed_reason = reason
            WS_DISCONNECTS.labels(reason).inc()
        self._wakeup.set()

    async def run_sender(self) -> None:
        """Send what is pending until closed; a send stuck past the limit closes the client.

        Each round sends the non-KPI messages (snapshot first) one per frame, then every
        pending ``kpi`` value in one frame (a ``batch`` when there are several), then waits
        ``flush_interval_s`` while new values coalesce: a thousand wall screens cost a few
        frames a second each, not one per changed value."""
        loop = asyncio.get_running_loop()
        while self.closed_reason is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self._heartbeat)
            self._wakeup.clear()
            if self.closed_reason is not None:
                break
            batch, self._pending = self._pending, {}
            if not batch:
                batch = {"heartbeat": {"type": "heartbeat", "ts": loop.time()}}
            frames = [encode(m) for m in batch.values() if m.get("type") != "kpi"]
            values = [(k, m) for k, m in batch.items() if m.get("type") == "kpi"]
            committed = 0.0
            if len(values) == 1:
                only = values[0][1]
                frames.append(encode(only))
                committed = only.changed if isinstance(only, Shared) else 0.0
            elif values:
                text, committed = BATCH_FRAMES.frame([m for _, m in values])
                frames.append(text)
            for frame in frames:
                try:
                    async with asyncio.timeout(self._stuck):  # no task per send, unlike wait_for
                        await self._send(frame)
                except TimeoutError:
                    self.close("stuck")
                    return
            if committed:
                FEED_DELAY.observe(time.time() - committed)
            for key, message in values:
                self._versions[key] = int(message.get("version", 0))
            if self._flush > 0:
                await asyncio.sleep(self._flush)


def latest_per_key(messages: Iterable[Shared]) -> list[Shared]:
    """The newest message per key (a burst carries several versions of a value; each client
    would otherwise look at every one of them)."""
    latest: dict[str, Shared] = {}
    for message in messages:
        seen = latest.get(message.key)
        if seen is None or message.version >= seen.version:
            latest[message.key] = message
    return list(latest.values())


class Hub:
    def __init__(self) -> None:
        self._clients: set[ClientSession] = set()
        self._holders: dict[ClientSession, bytes] = {}
        self._per_holder: dict[bytes, int] = {}

    def add(self, client: ClientSession, holder: bytes = b"") -> None:
        """A connected client; ``holder`` identifies its token, for the per-token cap."""
        self._clients.add(client)
        self._holders[client] = holder
        self._per_holder[holder] = self._per_holder.get(holder, 0) + 1
        WS_CLIENTS.set(len(self._clients))

    def remove(self, client: ClientSession) -> None:
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
        for client in list(self._clients):
            client.push(message)

    def __len__(self) -> int:
        return len(self._clients)


class ChangeFeed:
    """Reads the change topic from its end (no consumer group: every API process reads all).

    The consumer runs on its own event loop in its own thread, where records are also
    decoded and each message's key worked out; the API's loop only fans the messages out.
    With a thousand wall screens that loop is busy sending frames, and a fetch answered on
    it waited behind them (p99 delay 630-660 ms in half the runs of ``ioc bench-feed``)."""

    def __init__(self, bootstrap: str, topic: str, hub: Hub, *, fetch_max_wait_ms: int = 100) -> None:
        self._bootstrap = bootstrap
        self._fetch_max_wait_ms = fetch_max_wait_ms
        self._topic = topic
        self._hub = hub
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="change-feed", daemon=True)

    def _on_feed_loop(self, work: Coroutine[Any, Any, T]) -> asyncio.Future[T]:
        return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work, self._loop))

    async def start(self) -> None:
        self._thread.start()
        await self._on_feed_loop(self._start(asyncio.get_running_loop()))

    async def _start(self, deliver_to: asyncio.AbstractEventLoop) -> None:
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap.split(","), group_id=None,
            enable_auto_commit=False, client_id="ioc-api-feed",
            fetch_max_wait_ms=self._fetch_max_wait_ms)
        await self._consumer.start()
        partitions = self._consumer.partitions_for_topic(self._topic) or set()
        if not partitions:
            await self._consumer.stop()
            raise RuntimeError(f"topic {self._topic} does not exist; run `ioc migrate` first")
        tps = [TopicPartition(self._topic, p) for p in sorted(partitions)]
        self._consumer.assign(tps)
        await self._consumer.seek_to_end(*tps)
        positions = {tp.partition: await self._consumer.position(tp) for tp in tps}
        log.info("change feed started", extra={"topic": self._topic, "positions": str(positions)})
        self._task = asyncio.create_task(self._run(deliver_to), name="change-feed")

    async def _run(self, deliver_to: asyncio.AbstractEventLoop) -> None:
        assert self._consumer is not None
        while True:
            try:
                batches = await self._consumer.getmany(timeout_ms=500, max_records=5000)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("change feed read failed; retrying")
                await asyncio.sleep(1)
                continue
            kpis: list[dict[str, Any]] = []
            alerts: list[dict[str, Any]] = []
            for records in batches.values():
                for record in records:
                    messages = change_messages(record.value)
                    FEED_MESSAGES.inc(len(messages))
                    for message in messages:
                        if message.get("type") == "kpi":
                            kpis.append(Shared(message))
                        elif message.get("type") == "alert":
                            alerts.append(message)
            if kpis or alerts:
                deliver_to.call_soon_threadsafe(self._deliver, kpis, alerts)

    def _deliver(self, kpis: list[dict[str, Any]], alerts: list[dict[str, Any]]) -> None:
        for alert in alerts:
            self._hub.broadcast(alert)
        if kpis:
            self._hub.publish_many(kpis)

    async def broker_reachable(self, timeout_s: float = 2.0) -> bool:
        consumer = self._consumer
        if consumer is None:
            return False
        try:
            await asyncio.wait_for(self._on_feed_loop(consumer.topics()), timeout_s)
            return True
        except Exception:
            return False

    async def stop(self) -> None:
        if self._thread.is_alive():
            await self._on_feed_loop(self._stop())
            self._loop.call_soon_threadsafe(self._loop.stop)
            await asyncio.to_thread(self._thread.join, 10)
            if not self._thread.is_alive():
                self._loop.close()

    async def _stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()
