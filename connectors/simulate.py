"""``ioc simulate``: run the simulator against Kafka in real time."""

from __future__ import annotations

import logging
import signal
import threading
from datetime import timedelta
from types import FrameType

from connectors.publisher import EventPublisher
from connectors.simulator import Simulator
from ioc.clock import Clock, SystemClock
from ioc.reference import load_reference
from ioc.settings import Settings

log = logging.getLogger(__name__)


def run_simulator(settings: Settings, *, clock: Clock | None = None,
                  duration_s: float | None = None, tick_s: float = 1.0) -> int:
    """Publish simulated events as time passes; returns how many were published."""
    clock = clock or SystemClock()
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
    reference = load_reference(settings.reference_file)
    start = clock.now()
    sim = Simulator(reference, seed=settings.sim_seed, source=settings.sim_source,
                    rate=settings.sim_rate, start=start)
    publisher = EventPublisher(settings, client_id="ioc-simulator")
    sent = publisher.publish(sim.backlog(start, settings.sim_backlog_days))
    log.info("simulator started", extra={"backlog": sent, "rate": settings.sim_rate})
    last = start
    try:
        while not stop.is_set():
            if duration_s is not None and (clock.now() - start) >= timedelta(seconds=duration_s):
                break
            stop.wait(tick_s)
            now = clock.now()
            sent += publisher.publish(sim.between(last, now))
            last = now
    finally:
        publisher.close()
    log.info("simulator stopped", extra={"published": sent})
    return sent
