"""``ioc connect <name>``: the long-running connectors, built from settings."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from types import FrameType

from connectors.checkpoint import checkpoint_for
from connectors.publisher import EventPublisher
from ioc.settings import Settings

log = logging.getLogger(__name__)


def stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    return stop


def serve_metrics(settings: Settings) -> None:
    if settings.connector_metrics_port:
        from prometheus_client import start_http_server

        start_http_server(settings.connector_metrics_port, addr=settings.connector_metrics_host)


def connect_replay(settings: Settings, path: Path, fmt: str | None, chunk: int) -> int:
    from connectors.replay import format_of, replay

    serve_metrics(settings)
    publisher = EventPublisher(settings, client_id="ioc-replay")
    name = f"replay-{path.name}"
    try:
        result = replay(path, format_of(path, fmt), publisher,
                        checkpoint_for(settings.data_dir, name), chunk=chunk)
    finally:
        publisher.close()
    print(f"replay: {result.published:,} published, {result.skipped:,} already published before,"
          f" {result.unreadable:,} not JSON objects (the worker dead-letters them)")
    return 0


def connect_dvc(settings: Settings) -> int:
    from connectors.dvc import DvcPoller

    serve_metrics(settings)
    publisher = EventPublisher(settings, client_id="ioc-dvc")
    poller = DvcPoller(settings.dvc_url, settings.dvc_token.get_secret_value(), settings.dvc_source,
                       publisher, checkpoint_for(settings.data_dir, "dvc"),
                       page_size=settings.dvc_page_size, poll_interval_s=settings.dvc_poll_interval_s)
    log.info("dvc connector started", extra={"url": settings.dvc_url, "seq": poller.stats.last_seq})
    try:
        stats = poller.run(stop_on_signals())
    finally:
        publisher.close()
    log.info("dvc connector stopped", extra={"published": stats.published,
                                             "dead_lettered": stats.dead_lettered,
                                             "seq": stats.last_seq})
    return 0


def connect_fake_dvc(settings: Settings, port: int, rate: float) -> int:
    from connectors.fake_dvc import run_fake_dvc
    from ioc.geography import geography_of

    run_fake_dvc("127.0.0.1", port, settings.dvc_token.get_secret_value(), rate=rate,
                 seed=settings.sim_seed, geography=geography_of(settings),
                 stop=stop_on_signals())
    return 0


def connect_payments(settings: Settings) -> int:
    import uvicorn

    from connectors.payments import PaymentsConfig, create_payments_app
    from ioc.clock import SystemClock
    from ioc.events import rules_of
    from ioc.geography import geography_of
    from ioc.http_limits import guarded_http

    publisher = EventPublisher(settings, client_id="ioc-payments", linger_ms=0)
    config = PaymentsConfig(settings.payments_webhook_secret.get_secret_value().encode(),
                            settings.payments_source, settings.payments_tolerance_s,
                            settings.data_dir / "connectors" / "payments-signatures.txt",
                            ack_timeout_s=settings.payments_ack_timeout_s,
                            max_body_bytes=settings.payments_max_body_bytes,
                            body_timeout_s=settings.payments_body_timeout_s)
    app = create_payments_app(config, publisher,
                              rules_of(settings, geography_of(settings)),
                              SystemClock())
    try:
        uvicorn.run(app, host=settings.payments_host, port=settings.payments_port,
                    log_level=settings.log_level.lower(), access_log=False,
                    http=guarded_http(settings.payments_header_timeout_s,
                                      settings.payments_max_header_bytes),
                    log_config=None)  # its lines go through ioc.logs (redacted, JSON)
    finally:
        publisher.close()
    return 0


def connect_sensors(settings: Settings) -> int:
    from connectors.sensors import Spool, run_sensors

    serve_metrics(settings)
    publisher = EventPublisher(settings, client_id="ioc-sensors")
    spool = Spool(settings.data_dir / "connectors" / "sensors.spool",
                  checkpoint_for(settings.data_dir, "sensors"))
    try:
        stats = run_sensors(publisher, spool, source=settings.sensors_source,
                            host=settings.mqtt_host, port=settings.mqtt_port,
                            topic=settings.mqtt_topic, client_id=settings.mqtt_client_id,
                            username=settings.mqtt_username,
                            password=settings.mqtt_password.get_secret_value(),
                            stop=stop_on_signals())
    finally:
        publisher.close()
    log.info("sensors connector stopped", extra={"messages": stats.messages,
                                                 "published": stats.published,
                                                 "dead_lettered": stats.dead_lettered})
    return 0
