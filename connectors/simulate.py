"""``ioc simulate``: run the simulator in real time through one of the sinks."""

from __future__ import annotations

import logging
import signal
import threading
from datetime import timedelta
from types import FrameType

from connectors.publisher import EventPublisher
from connectors.simulator import Simulator
from connectors.sinks import ConnectorSinks, HttpSink, KafkaSink, Sink
from ioc.clock import Clock, SystemClock
from ioc.geography import geography_of
from ioc.geography.agencies import load_agencies
from ioc.settings import Settings

log = logging.getLogger(__name__)


def sink_for(settings: Settings, stop: threading.Event) -> Sink:
    if settings.sim_via == "http":
        return HttpSink(settings.sim_ingest_url, settings.sim_token.get_secret_value(), stop=stop)
    if settings.sim_via == "connectors":
        return ConnectorSinks(
            dvc_port=settings.sim_dvc_port, dvc_token=settings.dvc_token.get_secret_value(),
            payments_url=f"http://{settings.payments_host}:{settings.payments_port}/webhooks/payments",
            payments_secret=settings.payments_webhook_secret.get_secret_value().encode(),
            mqtt_host=settings.mqtt_host, mqtt_port=settings.mqtt_port,
            journal_file=settings.data_dir / "fake-dvc" / "journal.ndjson", stop=stop)
    return KafkaSink(EventPublisher(settings, client_id="ioc-simulator"))


def run_simulator(settings: Settings, *, clock: Clock | None = None,
                  duration_s: float | None = None, tick_s: float = 1.0) -> int:
    """Send simulated events as time passes; returns how many were sent."""
    clock = clock or SystemClock()
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
    geography = geography_of(settings)
    start = clock.now()
    sim = Simulator(geography, seed=settings.sim_seed, source=settings.sim_source,
                    rate=settings.sim_rate, start=start,
                    agencies=load_agencies(geography, settings.agencies_file))
    sink = sink_for(settings, stop)
    sent = 0
    try:
        sent = sink.send(sim.backlog(start, settings.sim_backlog_days))
        log.info("simulator started", extra={"backlog": sent, "rate": settings.sim_rate,
                                             "via": settings.sim_via})
        last = start
        while not stop.is_set():
            if duration_s is not None and (clock.now() - start) >= timedelta(seconds=duration_s):
                break
            stop.wait(tick_s)
            now = clock.now()
            sent += sink.send(sim.between(last, now))
            last = now
    except RuntimeError as exc:
        if not stop.is_set():
            raise
        log.info("simulator stopped while sending", extra={"error": str(exc)})
    finally:
        sink.close()
    log.info("simulator stopped", extra={"sent": sent})
    return sent
