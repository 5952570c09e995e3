"""The connectors across broker outages, against their own embedded broker, the real stream
worker, PostgreSQL and the API:

- the broker frozen (SIGSTOP) while the webhook runs on: the gateway's delivery gets 503 and
  its retry of the same delivery (same signature) gets 200 once the broker answers again
  (it got 409); copies of one delivery in flight are answered once; each payment counted once;
- the broker stopped, then started empty on the same port (a new incarnation: topics made
  again, the worker restarted) while the connectors run on: a delivery that got 503 is
  accepted on retry; the administrative-procedure poller's checkpoint and the sensors spool
  offset do not move while nothing is acked, and resume from there;
- the webhook refuses a declared oversize body without reading it, cuts a chunked body at its
  limit, and cuts stalled bodies and headers.
"""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from kafka.errors import KafkaError

from connectors.checkpoint import Checkpoint
from connectors.dvc import DvcPoller
from connectors.fake_dvc import FakeDvc, change_of
from connectors.publisher import EventPublisher
from connectors.sensors import SensorConnector, Spool, station_messages
from connectors.simulator import Simulator
from ioc.embedded.broker import EmbeddedBroker
from ioc.embedded.processes import free_port, http_ok, wait_until
from ioc.geography import HISTORIC, load_geography
from ioc.signing import sign
from tests.integration.conftest import Pipeline, Services, own_broker_pipeline
from tests.integration.test_connectors import caught_up

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)
SECRET = b"whsec-outage"


def total(pipe: Pipeline, kpi: str, **extra: str) -> float:
    params = {"bucket": "1d", "start": (NOW - timedelta(days=8)).isoformat(),
              "end": (NOW + timedelta(days=1)).isoformat(), **extra}
    return sum(float(p["value"] or 0) for p in pipe.get(f"/api/v1/kpis/{kpi}/series", **params)["points"])


def delivery(n: int) -> bytes:
    return json.dumps({"id": f"whevt_{n}", "type": "payment.succeeded", "created": int(NOW.timestamp()),
                       "data": {"transaction_id": f"OUT{n}", "amount": 50000 + n, "currency": "VND",
                                "method": "qr", "purpose": "fee", "area": "294",
                                "paid_at": (NOW - timedelta(minutes=5)).isoformat()}}).encode()


class Gateway:
    """Posts signed deliveries as the payment gateway does."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}/webhooks/payments"

    def post(self, body: bytes, header: str) -> httpx.Response:
        return httpx.post(self.url, content=body, timeout=60,
                          headers={"X-Signature": header, "Content-Type": "application/json"})

    def retry_until_accepted(self, body: bytes, header: str) -> list[int]:
        """The gateway's retries of one delivery (same signature) until it gets 200; the
        answers it got."""
        codes: list[int] = []

        def accepted() -> bool:
            codes.append(self.post(body, header).status_code)
            return codes[-1] != 503

        wait_until(accepted, timeout_s=120, what="a 200 for the retried delivery", interval_s=0.5)
        return codes

    def raw(self, request: bytes, *, timeout_s: float = 30) -> tuple[bytes, float]:
        """Send raw bytes and read the answer until the server closes; returns it and how long
        it took."""
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout_s) as sock:
            sock.sendall(request)
            answer = b""
            try:
                while chunk := sock.recv(65536):
                    answer += chunk
            except ConnectionResetError:
                pass
        return answer, time.monotonic() - started


@pytest.fixture(scope="module")
def outage(services: Services) -> Iterator[tuple[Pipeline, EmbeddedBroker]]:
    """A pipeline on its own broker, which the tests stop and start again."""
    with own_broker_pipeline(services, "p_outage") as both:
        yield both


def start_payments(pipe: Pipeline, port: int) -> Gateway:
    proc = pipe.spawn("payments", "connect", "payments", env={
        "IOC_PAYMENTS_WEBHOOK_SECRET": SECRET.decode(), "IOC_PAYMENTS_PORT": str(port),
        "IOC_PAYMENTS_ACK_TIMEOUT_S": "3", "IOC_PAYMENTS_BODY_TIMEOUT_S": "2",
        "IOC_PAYMENTS_HEADER_TIMEOUT_S": "2", "IOC_PAYMENTS_MAX_BODY_BYTES": "4096"})
    wait_until(lambda: http_ok(f"http://127.0.0.1:{port}/healthz"), timeout_s=30,
               what="payments connector", alive=lambda: proc.poll() is None, interval_s=0.1)
    return Gateway(port)


@pytest.fixture(scope="module")
def gateway(outage: tuple[Pipeline, EmbeddedBroker]) -> Gateway:
    return start_payments(outage[0], free_port())


def test_the_webhook_bounds_bodies_and_headers(gateway: Gateway) -> None:
    head = ("POST /webhooks/payments HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Signature: t=1,v1=ab\r\n"
            "Content-Type: application/json\r\n")
    declared, _ = gateway.raw(f"{head}Content-Length: 50000000\r\n\r\n".encode())
    assert declared.startswith(b"HTTP/1.1 413"), declared  # answered with no body sent
    assert b"50,000,000 bytes" in declared and b"connection: close" in declared.lower()

    def chunks() -> Iterator[bytes]:  # no Content-Length: cut while reading
        for _ in range(100):
            yield b"x" * 1000

    streamed = httpx.post(gateway.url, content=chunks(), headers={"X-Signature": "t=1,v1=ab"})
    assert streamed.status_code == 413

    stalled, took = gateway.raw(f"{head}Content-Length: 100\r\n\r\n{{\"id\": ".encode())
    assert stalled.startswith(b"HTTP/1.1 408"), stalled  # IOC_PAYMENTS_BODY_TIMEOUT_S=2
    assert took < 30
    slow_headers, took = gateway.raw(head.encode())
    assert slow_headers.startswith(b"HTTP/1.1 408"), slow_headers  # IOC_PAYMENTS_HEADER_TIMEOUT_S=2
    assert took < 30
    huge = gateway.raw(head.encode() + b"X-Pad: " + b"a" * 40_000 + b"\r\n")[0]
    assert huge.startswith(b"HTTP/1.1 431"), huge[:200]
    assert httpx.get(f"http://127.0.0.1:{gateway.port}/healthz").status_code == 200


def _simulated(seed: int, minutes: int, rate: float) -> list[dict[str, Any]]:
    sim = Simulator(load_geography(HISTORIC), seed=seed, source="sim", rate=rate,
                    start=NOW - timedelta(hours=3))
    return sim.between(NOW - timedelta(hours=3), NOW - timedelta(hours=3) + timedelta(minutes=minutes))


def test_a_delivery_retried_after_a_broker_outage_is_accepted_and_counted_once(
        outage: tuple[Pipeline, EmbeddedBroker], gateway: Gateway) -> None:
    pipe, broker = outage
    assert broker.proc is not None
    before = total(pipe, "payment.count", area="294")
    for n in range(5):
        assert gateway.post(delivery(n), sign(SECRET, int(time.time()), delivery(n))).status_code == 200
    # Copies of one delivery at once: one is accepted, the others are replays; whichever
    # overlaps the first one's publishing waits for its outcome.
    same = sign(SECRET, int(time.time()), delivery(5))
    with ThreadPoolExecutor(8) as pool:
        codes = sorted(pool.map(lambda _: gateway.post(delivery(5), same).status_code, range(8)))
    assert codes == [200] + [409] * 7

    broker.proc.send_signal(signal.SIGSTOP)  # the broker stops answering; the connector runs on
    try:
        lost = sign(SECRET, int(time.time()), delivery(6))
        assert gateway.post(delivery(6), lost).status_code == 503  # the issue's scenario
        twice = sign(SECRET, int(time.time()), delivery(7))
        with ThreadPoolExecutor(2) as pool:  # a copy waits for the first, then tries itself
            answers = list(pool.map(lambda _: gateway.post(delivery(7), twice), range(2)))
        assert [a.status_code for a in answers] == [503, 503], [a.text for a in answers]
        assert all("retry" in a.json()["detail"] for a in answers)
    finally:
        broker.proc.send_signal(signal.SIGCONT)
    # The gateway's retries of the same deliveries (same signatures): 200 once the broker
    # acks again (it was 409: the signature was recorded before the publish).
    retries = gateway.retry_until_accepted(delivery(6), lost)
    assert set(retries[:-1]) <= {503} and retries[-1] == 200, retries
    assert gateway.post(delivery(6), lost).status_code == 409  # now it is a replay
    assert gateway.retry_until_accepted(delivery(7), twice)[-1] == 200
    caught_up(pipe)  # the event of a 503 may have reached the broker too: counted once
    assert total(pipe, "payment.count", area="294") - before == 8  # 0 to 7, once each


def test_connectors_keep_their_place_across_a_new_broker_incarnation(
        outage: tuple[Pipeline, EmbeddedBroker], gateway: Gateway, tmp_path: Path) -> None:
    """The broker stopped, then started empty on the same port; the connectors run on
    (their producers are not idempotent: an idempotent one never recovers from a broker that
    does not know its producer id) and resume from what they had had acked."""
    pipe, broker = outage
    before = total(pipe, "payment.count", area="294")
    simulated = _simulated(4, 20, rate=1)
    changes = [c for c in map(change_of, simulated) if c]
    messages = [payload for _, payload in station_messages(simulated)]
    fake = FakeDvc(token="t").start()
    fake.journal.append(changes[:20])
    dvc_checkpoint = Checkpoint(tmp_path / "dvc.json")
    spool = Spool(tmp_path / "sensors.spool", Checkpoint(tmp_path / "sensors.json"))
    publishers = [EventPublisher(pipe.settings, client_id=f"test-outage-{n}") for n in range(2)]
    dvc = DvcPoller(fake.url, "t", pipe.settings.dvc_source, publishers[0], dvc_checkpoint,
                    page_size=1000)
    sensors = SensorConnector(publishers[1], spool, pipe.settings.sensors_source)

    http = httpx.Client(timeout=30)
    try:
        assert dvc.poll_once(http) == 20 and dvc_checkpoint.load() == {"seq": 20}
        for payload in messages[:10]:
            spool.append(payload)
        assert sensors.publish_pending() == 10
        acked_offset = spool.published_offset
        caught_up(pipe)
        pipe.stop("worker")
        broker.stop()

        fake.journal.append(changes[20:])
        for payload in messages[10:]:
            spool.append(payload)
        failures: list[str] = []

        def fails(call: Callable[[], object], name: str) -> None:
            try:
                call()
            except KafkaError:
                failures.append(name)

        threads = [threading.Thread(target=fails, args=(lambda: dvc.poll_once(http), "dvc")),
                   threading.Thread(target=fails, args=(sensors.publish_pending, "sensors"))]
        for thread in threads:
            thread.start()
        lost = sign(SECRET, int(time.time()), delivery(8))
        assert gateway.post(delivery(8), lost).status_code == 503
        for thread in threads:
            thread.join(120)
        assert sorted(failures) == ["dvc", "sensors"]
        assert dvc_checkpoint.load() == {"seq": 20}  # not moved without the acks
        assert spool.published_offset == acked_offset

        broker.start()  # a new, empty incarnation on the same port
        pipe.follow_new_broker(broker)
        assert gateway.retry_until_accepted(delivery(8), lost)[-1] == 200  # it was 409
        wait_until(lambda: _try(lambda: dvc.poll_once(http))
                   and dvc_checkpoint.load().get("seq") == len(changes),
                   timeout_s=120, what="the dvc poller after the outage")
        wait_until(lambda: _try(sensors.publish_pending)
                   and spool.published_offset == (tmp_path / "sensors.spool").stat().st_size,
                   timeout_s=120, what="the sensors spool after the outage")
    finally:
        http.close()
        fake.stop()
        spool.close()
        for publisher in publishers:
            publisher.close()

    caught_up(pipe)
    assert total(pipe, "payment.count", area="294") - before == 1
    received = sum(1 for c in changes if c["status"] == "received")
    assert total(pipe, "dossier.received") == received
    pm25 = sum(1 for p in messages if "pm2_5" in json.loads(p)["readings"])
    assert total(pipe, "sensor.readings", metric="pm2_5") == pm25


def _try(call: Callable[[], object]) -> bool:
    """True when ``call`` ran without a broker error (the producer may need a moment to find
    the new incarnation)."""
    try:
        call()
    except KafkaError:
        return False
    return True
