"""The API's async Kafka producer: sends on the event loop, waits for the broker's acks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from ioc.topics import PRODUCER_ACKS

log = logging.getLogger(__name__)


class BrokerUnavailable(RuntimeError):
    """The broker did not take (ack) every record in time."""


class EventProducer:
    """``acks=all``; not idempotent (the embedded broker rejects idempotent producers): a
    retried record may land twice, which deduplication by (source, id) absorbs."""

    def __init__(self, bootstrap: str, topic: str, *, timeout_s: float = 10.0) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self._timeout_s = timeout_s
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap.split(","), client_id="ioc-api-ingest",
            acks=PRODUCER_ACKS, enable_idempotence=False, linger_ms=2,
            request_timeout_ms=int(self._timeout_s * 1000), max_batch_size=1024 * 1024)
        await self._producer.start()

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def send_all(self, records: Sequence[tuple[bytes | None, bytes]], topic: str | None = None,
                       headers: Sequence[tuple[str, bytes]] = ()) -> None:
        """Send (key, value) records (to the events topic unless told another), each with
        ``headers``; return once the broker acked all of them."""
        if self._producer is None:
            raise BrokerUnavailable("the producer is not running")
        try:
            async with asyncio.timeout(self._timeout_s):
                futures = [await self._producer.send(topic or self._topic, value=value, key=key,
                                                     headers=list(headers) or None)
                           for key, value in records]
                await asyncio.gather(*futures)
        except (KafkaError, TimeoutError, OSError) as exc:
            log.warning("broker did not ack", extra={"records": len(records), "error": repr(exc)})
            raise BrokerUnavailable(f"the broker did not acknowledge the events: {exc!r}") from exc
