"""Faust's aiokafka transport with the consumer's fetch wait taken from settings.

Faust 0.15 builds its consumer with ``fetch_max_wait_ms=1500``. Apache Kafka answers a
fetch as soon as data arrives, so that only bounds idle polling; the embedded broker
(Tansu) holds every fetch for the full wait when a partition had nothing new, so records
published during the wait reached the agent ~0.7 s late on average (measured: 701 ms per
record at 1,500 ms, 27 ms at 100 ms). The app uses this transport so the wait is
``IOC_KAFKA_FETCH_MAX_WAIT_MS`` everywhere.
"""

from __future__ import annotations

from typing import Any

import aiokafka
import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TransportT


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: faust_aiokafka.Transport) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # aiokafka reads this attribute when start() creates its Fetcher; Faust passes no
        # way to set it, so it is replaced before the consumer starts.
        app = self.app
        assert isinstance(app, App)
        consumer._fetch_max_wait_ms = app.fetch_max_wait_ms
        return consumer


class _Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class _Transport(faust_aiokafka.Transport):
    Consumer = _Consumer


class App(faust.App):
    """A Faust app whose consumer fetches with ``fetch_max_wait_ms``."""

    def __init__(self, *args: Any, fetch_max_wait_ms: int, **kwargs: Any) -> None:
        self.fetch_max_wait_ms = fetch_max_wait_ms
        super().__init__(*args, **kwargs)

    def _new_transport(self) -> TransportT:
        made: TransportT = _Transport(self.conf.broker_consumer, self)
        return made
