"""The worker's Faust app builds its aiokafka consumer with the fetch wait from settings."""

import asyncio

from streams.kafka_transport import App


def test_the_consumer_fetch_wait_comes_from_the_app_not_faust_default() -> None:
    async def scenario() -> int:
        app = App("transport-test", broker="kafka://127.0.0.1:1", store="memory://",
                  web_enabled=False, fetch_max_wait_ms=77)
        consumer = app.consumer._thread._create_worker_consumer(app.transport)
        wait: int = consumer._fetch_max_wait_ms
        return wait

    assert asyncio.run(scenario()) == 77
