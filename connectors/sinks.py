"""Where the simulator sends its events: the paths real sources use.

- ``kafka``: straight into the events topic (kafka-python), as a connector does;
- ``http``: the integrators' HTTP ingest, in batches, with the integrator key;
- ``connectors``: each kind through its connector: dossier changes into a fake of the
  administrative-procedure system (served by the simulator, polled by ``ioc connect dvc``),
  payments as signed webhooks to ``ioc connect payments``, sensor readings as station
  messages over MQTT to ``ioc connect sensors``.

A sink retries until its target takes the events (a connector still starting, an API
restarting): the simulator waits rather than drop anything.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import httpx

from connectors.fake_dvc import FakeDvc, change_of
from connectors.publisher import EventPublisher
from connectors.sensors import mqtt_client, station_messages
from ioc.signing import sign

log = logging.getLogger(__name__)


class Sink(Protocol):
    def send(self, events: Sequence[dict[str, Any]]) -> int: ...

    def close(self) -> None: ...


def _retrying(what: str, attempt: Callable[[], object], stop: threading.Event | None) -> None:
    delay = 0.5
    while True:
        try:
            attempt()
            return
        except (httpx.HTTPError, OSError, RuntimeError) as exc:
            log.warning(f"simulator: {what} not taken; retrying", extra={"error": str(exc)})
            if stop is not None and stop.wait(delay):
                raise RuntimeError(f"stopped while {what} was not taken") from exc
            if stop is None:
                time.sleep(delay)
            delay = min(delay * 2, 10)


class KafkaSink:
    def __init__(self, publisher: EventPublisher) -> None:
        self._publisher = publisher

    def send(self, events: Sequence[dict[str, Any]]) -> int:
        return self._publisher.publish(events)

    def close(self) -> None:
        self._publisher.close()


class HttpSink:
    def __init__(self, base_url: str, token: str, *, batch: int = 500,
                 stop: threading.Event | None = None) -> None:
        self._url = base_url.rstrip("/") + "/api/v1/events"
        self._headers = {"Authorization": f"Bearer {token}",
                         "Content-Type": "application/cloudevents-batch+json"}
        self._batch = batch
        self._http = httpx.Client(timeout=30)
        self._stop = stop

    def send(self, events: Sequence[dict[str, Any]]) -> int:
        for i in range(0, len(events), self._batch):
            body = json.dumps(list(events[i:i + self._batch]), ensure_ascii=False).encode()

            def post(body: bytes = body) -> None:
                answer = self._http.post(self._url, content=body, headers=self._headers)
                if answer.status_code in (502, 503, 504):
                    raise RuntimeError(f"ingest answered {answer.status_code}")
                answer.raise_for_status()
                rejected = answer.json()["rejected"]
                if rejected:  # the simulator's own events: a rejection is a bug, say so
                    log.error("simulator: ingest rejected events", extra={"rejected": rejected[:5]})

            _retrying("an ingest batch", post, self._stop)
        return len(events)

    def close(self) -> None:
        self._http.close()


class ConnectorSinks:
    def __init__(self, *, dvc_port: int, dvc_token: str, payments_url: str, payments_secret: bytes,
                 mqtt_host: str, mqtt_port: int, journal_file: Path | None = None,
                 stop: threading.Event | None = None) -> None:
        self.fake_dvc = FakeDvc("127.0.0.1", dvc_port, dvc_token, journal_file).start()
        self._payments_url = payments_url
        self._secret = payments_secret
        self._http = httpx.Client(timeout=30)
        self._stop = stop
        self._mqtt = mqtt_client("ioc-simulated-stations", "stations", "")
        self._mqtt_host, self._mqtt_port = mqtt_host, mqtt_port
        _retrying("the MQTT connection", lambda: self._mqtt.connect(mqtt_host, mqtt_port), stop)
        self._mqtt.loop_start()

    def send(self, events: Sequence[dict[str, Any]]) -> int:
        self.fake_dvc.journal.append(c for c in map(change_of, events) if c)
        for event in events:
            if event["type"] == "payment.completed":
                self._webhook(event)
        for topic, payload in station_messages(list(events)):
            info = self._mqtt.publish(topic, payload, qos=1)
            info.wait_for_publish(30)
        return len(events)

    def _webhook(self, event: dict[str, Any]) -> None:
        d = event["data"]
        delivery = {"id": f"whevt_{d['payment_id']}", "type": "payment.succeeded",
                    "created": int(time.time()),
                    "data": {"transaction_id": d["payment_id"], "amount": d["amount_vnd"],
                             "currency": "VND", "method": d["method"], "purpose": d["purpose"],
                             "area": d["area"], "paid_at": event["time"],
                             **({"service_code": d["service_code"]} if d.get("service_code") else {})}}
        body = json.dumps(delivery).encode()

        def post() -> None:
            answer = self._http.post(self._payments_url, content=body, headers={
                "X-Signature": sign(self._secret, int(time.time()), body),
                "Content-Type": "application/json"})
            if answer.status_code in (409, 422):  # a replay or an invalid payment: ours, a bug
                log.error("simulator: webhook refused", extra={"status": answer.status_code,
                                                               "detail": answer.text[:200]})
                return
            if answer.status_code != 200:
                raise RuntimeError(f"payments connector answered {answer.status_code}")

        _retrying("a payment webhook", post, self._stop)

    def close(self) -> None:
        self._mqtt.loop_stop()
        self._mqtt.disconnect()
        self._http.close()
        self.fake_dvc.stop()
