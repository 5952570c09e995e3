"""How late the API process's event loop runs: a process-wide metric, measured by a task
that the app starts with its lifespan."""

from __future__ import annotations

import asyncio

from prometheus_client import Histogram

LOOP_LAG = Histogram("ioc_api_event_loop_lag_seconds", "How late a 0.1 s sleep on the API's event loop "
                     "woke up (time the loop was busy with other work)",
                     buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2))


async def watch_loop_lag(interval_s: float = 0.1) -> None:
    """Sleep ``interval_s`` again and again, observing how much later than asked each wake-up
    came (the loop's own clock); runs until cancelled."""
    loop = asyncio.get_running_loop()
    while True:
        before = loop.time()
        await asyncio.sleep(interval_s)
        LOOP_LAG.observe(max(0.0, loop.time() - before - interval_s))
