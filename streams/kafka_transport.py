"""Faust's aiokafka transport with the consumer's fetch wait taken from settings.

Faust 0.15 builds its consumer with ``fetch_max_wait_ms=1500``. Apache Kafka answers a
fetch as soon as data arrives, so that only bounds idle polling; the embedded broker
(Tansu) holds every fetch for the full wait when a partition had nothing new, so records
published during the wait reached the agent ~0.7 s late on average (measured: 701 ms per
record at 1,500 ms, 27 ms at 100 ms). The app uses this transport so the wait is
``IOC_KAFKA_FETCH_MAX_WAIT_MS`` everywhere.
"""

from __future__ import annotations

from typing import Any, ClassVar

import aiokafka
import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TransportT


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    fetch_max_wait_ms: ClassVar[int] = 1500

    def _create_worker_consumer(self, transport: faust_aiokafka.Transport) -> aiokafka.AIOKafkaConsumer:
        consumer = super()._create_worker_consumer(transport)
        # aiokafka reads this attribute when start() creates its Fetcher; Faust passes no
        # way to set it, so it is replaced before the consumer starts.
        consumer._fetch_max_wait_ms = self.fetch_max_wait_ms
        return consumer


def transport_class(fetch_max_wait_ms: int) -> type[faust_aiokafka.Transport]:
    """Faust's aiokafka Transport whose consumer fetches with ``fetch_max_wait_ms``."""
    thread = type("ConsumerThread", (_ConsumerThread,), {"fetch_max_wait_ms": fetch_max_wait_ms})

    class WaitingConsumer(faust_aiokafka.Consumer):
        def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
            made: faust_aiokafka.AIOKafkaConsumerThread = thread(
                self, loop=self.loop, beacon=self.beacon)
            return made

    class Transport(faust_aiokafka.Transport):
        Consumer = WaitingConsumer

    return Transport


class App(faust.App):
    """A Faust app whose consumer transport is :func:`transport_class` of the given wait."""

    def __init__(self, *args: Any, fetch_max_wait_ms: int, **kwargs: Any) -> None:
        self._transport_class = transport_class(fetch_max_wait_ms)
        super().__init__(*args, **kwargs)

    def _new_transport(self) -> TransportT:
        made: TransportT = self._transport_class(self.conf.broker_consumer, self)
        return made
