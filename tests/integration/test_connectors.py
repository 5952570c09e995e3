"""The source connectors end to end, against the real broker, database, stream worker, a real
MQTT broker (amqtt) and real HTTP servers; each one killed (SIGKILL) or restarted in the
middle, then the KPIs compared with what was sent: nothing lost, nothing counted twice."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
from kafka import KafkaConsumer, TopicPartition
from paho.mqtt.enums import CallbackAPIVersion

from connectors.fake_dvc import FakeDvc, change_of
from connectors.replay import sample_csv
from connectors.sensors import station_messages
from connectors.simulator import Simulator
from ioc.embedded.mqtt import EmbeddedMqtt
from ioc.embedded.processes import free_port, http_ok, spawn_ioc, wait_until
from ioc.geography import HISTORIC, load_geography
from ioc.signing import sign
from tests.integration.conftest import Pipeline, Services

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)


def end_offsets(pipeline: Pipeline, topic: str) -> dict[int, int]:
    consumer = KafkaConsumer(bootstrap_servers=pipeline.settings.kafka_bootstrap)
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        ends = consumer.end_offsets([TopicPartition(topic, p) for p in parts])
    finally:
        consumer.close()
    return {tp.partition: offset for tp, offset in ends.items()}


def caught_up(pipeline: Pipeline) -> None:
    pipeline.targets = end_offsets(pipeline, pipeline.settings.events_topic)
    pipeline.wait_processed()


def deadletters(pipeline: Pipeline, connector: str) -> list[tuple[dict[str, str], bytes]]:
    return [(headers, value) for headers, value in pipeline.dead_letters()
            if headers.get("ioc-connector", "") == connector
            or (connector == "" and "ioc-connector" not in headers)]


def total(pipeline: Pipeline, kpi: str, area: str | None = None, **extra: str) -> float:
    params = {"bucket": "1d", "start": (NOW - timedelta(days=8)).isoformat(),
              "end": (NOW + timedelta(days=1)).isoformat(), **extra}
    if area:
        params["area"] = area
    points = pipeline.get(f"/api/v1/kpis/{kpi}/series", **params)["points"]
    return sum(float(p["value"] or 0) for p in points)


STARTED: list[subprocess.Popen[bytes]] = []


@pytest.fixture(autouse=True)
def no_connector_left_running() -> Iterator[None]:
    yield
    while STARTED:
        proc = STARTED.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def connector(pipeline: Pipeline, name: str, *args: str, env: dict[str, str] | None = None
              ) -> subprocess.Popen[bytes]:
    proc = spawn_ioc("connect", name, *args, log_file=pipeline.root / f"connect-{name}.log",
                     env={**pipeline.env(), **(env or {})})
    STARTED.append(proc)
    return proc


def checkpoint(pipeline: Pipeline, name: str) -> dict[str, Any]:
    path = pipeline.root / "connectors" / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def simulated(seed: int, minutes: int, rate: float = 20) -> list[dict[str, Any]]:
    sim = Simulator(load_geography(HISTORIC), seed=seed, source="sim", rate=rate,
                    start=NOW - timedelta(hours=3))
    return sim.between(NOW - timedelta(hours=3), NOW - timedelta(hours=3) + timedelta(minutes=minutes))


@pytest.fixture(scope="module")
def pipe(pipeline: Pipeline) -> Iterator[Pipeline]:
    yield pipeline


def test_replay_survives_a_sigkill_and_counts_each_event_once(pipe: Pipeline, tmp_path: Path) -> None:
    events = [e for e in simulated(1, 60) if e["type"] == "payment.completed"]
    for e in events:
        e["source"] = "replay.test"
    lines = [json.dumps(e) for e in events]
    lines[10:10] = ["{this is not json", json.dumps({**events[0], "id": "bad", "data": {**events[0]["data"],
                                                                                         "area": "999"}})]
    lines.append(lines[5])  # a duplicate in the history
    path = tmp_path / "history.ndjson"
    path.write_text("\n".join(lines) + "\n")
    before = total(pipe, "payment.count")

    proc = connector(pipe, "replay", str(path), "--chunk", "20")
    wait_until(lambda: checkpoint(pipe, "replay-history.ndjson").get("records", 0) >= 100,
               timeout_s=60, what="part of the replay", interval_s=0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert checkpoint(pipe, "replay-history.ndjson")["records"] < len(lines), "killed too late"
    again = connector(pipe, "replay", str(path))
    assert again.wait(120) == 0
    assert checkpoint(pipe, "replay-history.ndjson")["records"] == len(lines)

    caught_up(pipe)
    assert total(pipe, "payment.count") - before == len(events)
    reasons = {h["ioc-reason-code"] for h, v in deadletters(pipe, "") if b"bad" in v or b"this is" in v}
    assert {"invalid_json", "unknown_area"} <= reasons

    csv_events = [{**e, "source": "replay.csv"} for e in events[:50]]
    csv_path = tmp_path / "history.csv"
    csv_path.write_text(sample_csv(csv_events))
    assert connector(pipe, "replay", str(csv_path)).wait(120) == 0
    caught_up(pipe)
    assert total(pipe, "payment.count") - before == len(events) + 50


def test_dvc_poller_restarts_without_loss_and_dead_letters_what_it_cannot_map(pipe: Pipeline) -> None:
    fake = FakeDvc(token="dvc-secret").start()
    try:
        changes = [c for c in map(change_of, simulated(2, 120)) if c]
        received = sum(1 for c in changes if c["status"] == "received")
        resolved = sum(1 for c in changes if c["status"] == "resolved")
        half = len(changes) // 2
        fake.journal.append(changes[:half])
        fake.journal.append([{"dossier_id": "X-1", "status": "archived", "changed_at": NOW.isoformat()},
                             {"dossier_id": "X-2", "status": "received"}])
        env = {"IOC_DVC_URL": fake.url, "IOC_DVC_TOKEN": "dvc-secret", "IOC_DVC_PAGE_SIZE": "50",
               "IOC_DVC_POLL_INTERVAL_S": "0.2"}
        before_received = total(pipe, "dossier.received")
        proc = connector(pipe, "dvc", env=env)
        wait_until(lambda: checkpoint(pipe, "dvc").get("seq", 0) >= 100, timeout_s=60,
                   what="the first pages", interval_s=0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        fake.journal.append(changes[half:])
        fake.fail_next = 2  # the system is briefly unavailable: the connector retries
        proc = connector(pipe, "dvc", env=env)
        last = len(changes) + 2
        wait_until(lambda: checkpoint(pipe, "dvc").get("seq", 0) >= last, timeout_s=90,
                   what="every change", interval_s=0.1)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        caught_up(pipe)
        assert total(pipe, "dossier.received") - before_received == received
        assert total(pipe, "dossier.resolved") >= resolved
        dead = deadletters(pipe, "dvc")
        assert {h["ioc-reason-code"] for h, _ in dead} == {"unknown_status", "unmappable_change"}
        assert any("archived" in h["ioc-reason"] for h, _ in dead)
        assert any("due_at" in h["ioc-reason"] for h, _ in dead)
    finally:
        fake.stop()


def test_payment_webhooks_signed_replayed_and_invalid(pipe: Pipeline) -> None:
    secret = "whsec-test"
    port = free_port()
    env = {"IOC_PAYMENTS_WEBHOOK_SECRET": secret, "IOC_PAYMENTS_PORT": str(port)}
    url = f"http://127.0.0.1:{port}/webhooks/payments"

    def start() -> subprocess.Popen[bytes]:
        proc = connector(pipe, "payments", env=env)
        wait_until(lambda: http_ok(f"http://127.0.0.1:{port}/healthz"), timeout_s=30,
                   what="payments connector", alive=lambda: proc.poll() is None, interval_s=0.1)
        return proc

    def delivery(n: int, **data: Any) -> bytes:
        body = {"id": f"whevt_{n}", "type": "payment.succeeded", "created": int(time.time()),
                "data": {"transaction_id": f"TX{n}", "amount": 120000 + n, "currency": "VND",
                         "method": "qr" if n % 2 else "cash", "purpose": "fee", "area": "294",
                         "paid_at": (NOW - timedelta(minutes=5)).isoformat(), **data}}
        return json.dumps(body).encode()

    def post(body: bytes, header: str | None = None) -> httpx.Response:
        header = header or sign(secret.encode(), int(time.time()), body)
        return httpx.post(url, content=body, headers={"X-Signature": header,
                                                      "Content-Type": "application/json"})

    before = total(pipe, "payment.count", "294")
    proc = start()
    try:
        accepted = [post(delivery(n)) for n in range(20)]
        assert [a.status_code for a in accepted] == [200] * 20
        body100 = delivery(100)
        used = sign(secret.encode(), int(time.time()), body100)
        assert post(body100, used).status_code == 200
        assert post(body100, used).status_code == 409
        assert post(delivery(101), sign(b"wrong", int(time.time()), delivery(101))).status_code == 401
        stale = sign(secret.encode(), int(time.time()) - 3600, delivery(102))
        assert post(delivery(102), stale).status_code == 401
        assert post(delivery(103), "v1=abc").status_code == 400
        wrong = post(delivery(104, currency="USD"))
        assert wrong.status_code == 422 and "VND" in wrong.json()["detail"]
        bad_area = post(delivery(105, area="999"))
        assert bad_area.status_code == 422 and "unknown_area" in bad_area.json()["detail"]
        other = post(json.dumps({"id": "x", "type": "payment.refunded", "data": {}}).encode())
        assert other.status_code == 200 and other.json()["status"] == "ignored"
        retry = sign(secret.encode(), int(time.time()) + 1, delivery(3))  # re-signed by the gateway
        assert post(delivery(3), retry).status_code == 200  # counted once downstream
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        assert 'ioc_connector_events_total{connector="payments",outcome="rejected",reason="replayed"} 1.0' \
            in metrics

        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        proc = start()
        assert post(body100, used).status_code == 409  # remembered across the restart
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    caught_up(pipe)
    assert total(pipe, "payment.count", "294") - before == 21
    assert {h["ioc-reason-code"] for h, _ in deadletters(pipe, "payments")} == {
        "unmappable_delivery", "unknown_area"}


def test_sensor_readings_over_mqtt_survive_a_sigkill(services: Services, pipe: Pipeline) -> None:
    broker = EmbeddedMqtt("127.0.0.1", free_port(), services.root / "mqtt")
    broker.start()
    env = {"IOC_MQTT_PORT": str(broker.port), "IOC_MQTT_TOPIC": "sensors/#"}
    messages = list(station_messages(simulated(3, 30, rate=1)))
    assert len(messages) > 300
    readings = sum(len(json.loads(p)["readings"]) for _, p in messages)
    station = json.loads(messages[0][1])["station_id"]
    publisher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="stations")
    publisher.username_pw_set("stations")
    publisher.connect("127.0.0.1", broker.port)
    publisher.loop_start()

    def publish(batch: list[tuple[str, bytes]]) -> None:
        for topic, payload in batch:
            publisher.publish(topic, payload, qos=1).wait_for_publish(10)

    proc = connector(pipe, "sensors", env=env)
    try:
        wait_until(lambda: (pipe.root / "connectors" / "sensors.spool").exists(), timeout_s=30,
                   what="the sensors connector", interval_s=0.1)
        time.sleep(1.0)  # subscribed
        third = len(messages) // 3
        publish(messages[:third])
        spool = pipe.root / "connectors" / "sensors.spool"
        # Killed once every message is in the spool (acked to the MQTT broker: amqtt, unlike
        # mosquitto, does not redeliver a message whose PUBACK never came) and publishing
        # to Kafka has begun.
        wait_until(lambda: _lines(spool) == third and checkpoint(pipe, "sensors").get("offset", 0) > 0,
                   timeout_s=30, what="the first third spooled", interval_s=0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        # amqtt drops a QoS 1 message it was delivering when the connection died (mosquitto
        # resends it on reconnect): publish once it has seen the connection close.
        time.sleep(2.0)
        publish(messages[third:2 * third])  # kept by the broker for the persistent session
        publish([("sensors/bad", b"{not json"), ("sensors/bad", b'{"station_id": "S"}')])
        proc = connector(pipe, "sensors", env=env)
        time.sleep(1.0)
        publish(messages[2 * third:])
        wait_until(lambda: checkpoint(pipe, "sensors").get("offset", 0) == spool.stat().st_size
                   and _lines(spool) >= len(messages) + 2, timeout_s=90,
                   what=f"{len(messages) + 2} messages spooled and published", interval_s=0.2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        publisher.loop_stop()
        publisher.disconnect()
        broker.stop()
    caught_up(pipe)
    got = total(pipe, "sensor.readings", metric="pm2_5")
    want = sum(1 for _, p in messages if "pm2_5" in json.loads(p)["readings"])
    assert got == want
    assert readings > want
    assert total(pipe, "sensor.readings", metric="pm2_5", station_id=station) > 0
    dead = deadletters(pipe, "sensors")
    assert len(dead) == 2 and all(h["ioc-reason-code"] == "unmappable_message" for h, _ in dead)


def _lines(path: Path) -> int:
    with open(path, "rb") as src:
        return sum(1 for _ in src)

