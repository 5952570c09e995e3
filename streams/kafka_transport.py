"""Faust's aiokafka transport with the consumer's fetch wait taken from settings.

Faust 0.15 builds its consumer with ``fetch_max_wait_ms=1500``. Apache Kafka answers a
fetch as soon as data arrives, so that only bounds idle polling; the embedded broker
(Tansu) holds every fetch for the full wait when a partition had nothing new, so records
published during the wait reached the agent ~0.7 s late on average (measured: 701 ms per
record at 1,500 ms, 27 ms at 100 ms). The app uses this transport so the wait is
``IOC_KAFKA_FETCH_MAX_WAIT_MS`` everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import aiokafka
import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TransportT
from mode import ServiceT


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
    """A Faust app whose consumer fetches with ``fetch_max_wait_ms``; without
    ``monitor_sensor`` it runs without Faust's Monitor sensor."""

    def __init__(self, *args: Any, fetch_max_wait_ms: int, monitor_sensor: bool = True,
                 **kwargs: Any) -> None:
        self.fetch_max_wait_ms = fetch_max_wait_ms
        self.monitor_sensor = monitor_sensor
        super().__init__(*args, **kwargs)

    def on_init_dependencies(self) -> Iterable[ServiceT]:
        """Faust adds its Monitor to the sensors here. The Monitor keeps statistics for
        Faust's web view, which the worker does not run (its metrics are
        prometheus-client's), and costs time on every record: it is taken out again."""
        dependencies = super().on_init_dependencies()
        if not self.monitor_sensor:
            self.sensors.remove(self.monitor)
        return dependencies

    def _new_transport(self) -> TransportT:
        made: TransportT = _Transport(self.conf.broker_consumer, self)
        return made
