"""The API process's reader of the change topic: a Kafka consumer on its own thread that
decodes KPI and alert changes and hands them to the hub (api/fanout.py) on the API's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import Counter

from api.fanout import Hub, Shared
from ioc.changes import change_messages

log = logging.getLogger(__name__)
T = TypeVar("T")

FEED_MESSAGES = Counter("ioc_feed_changes_total", "KPI changes read from the change topic")


class ChangeConsumer:
    """Reads the change topic from its end (no consumer group: every API process reads all).

    The consumer runs on its own event loop in its own thread, where records are also
    decoded and each message's key worked out; the API's loop only fans the messages out.
    With a thousand wall screens that loop is busy sending frames, and a fetch answered on
    it waited behind them (p99 delay 630-660 ms in half the runs of ``ioc bench feed``)."""

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
