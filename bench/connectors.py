"""``ioc bench connectors``: events/s of each source connector on the embedded stack.

Each connector runs as ``ioc connect <name>`` (its own process, as in production) against
an embedded broker; the clock runs from the first input to the checkpoint saying all of it
was published (acked by the broker).

- replay: an NDJSON file of N payment events;
- dvc: a fake administrative-procedure system holding N dossier changes, polled in pages;
- payments: N signed webhooks posted by 1 and by 4 concurrent clients (one event each);
- sensors: station messages over MQTT (QoS 1), each carrying 7 readings.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from connectors.fake_dvc import FakeDvc, change_of
from connectors.sensors import mqtt_client, station_messages
from connectors.simulator import Simulator
from ioc.embedded.child_env import child_env
from ioc.embedded.mqtt import EmbeddedMqtt
from ioc.embedded.processes import free_port, http_ok, spawn_ioc, stop, wait_until
from ioc.embedded.services import start_services
from ioc.geography import geography_of
from ioc.settings import Settings
from ioc.signing import sign
from ioc.topics import ensure_topics


def _events(kind: str, count: int, seed: int) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    sim = Simulator(geography_of(Settings()), seed=seed, source="bench", rate=200, start=now)
    out: list[dict[str, Any]] = []
    t = now - timedelta(days=6)
    while len(out) < count:
        out.extend(e for e in sim.between(t, t + timedelta(minutes=10)) if e["type"].startswith(kind))
        t += timedelta(minutes=10)
    return out[:count]


def _checkpoint(root: Path, name: str) -> dict[str, Any]:
    path = root / "connectors" / f"{name}.json"
    try:
        loaded: dict[str, Any] = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return loaded


class _Run:
    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root, self.env = root, env

    def connector(self, name: str, *args: str, extra: dict[str, str] | None = None
                  ) -> subprocess.Popen[bytes]:
        return spawn_ioc("connect", name, *args, log_file=self.root / f"{name}.log",
                         env={**self.env, **(extra or {})})

    def timed(self, done: Callable[[], bool], proc: subprocess.Popen[bytes]) -> float:
        t0 = time.perf_counter()
        wait_until(done, timeout_s=600, what="the connector", alive=lambda: proc.poll() is None
                   or proc.returncode == 0, interval_s=0.02)
        return time.perf_counter() - t0


def run_connector_bench(events: int) -> dict[str, float]:
    root = Path(tempfile.mkdtemp(prefix="ioc-bench-connectors-"))
    mqtt = EmbeddedMqtt("127.0.0.1", free_port(), root / "mqtt")
    services = start_services(root, log_dir=root)  # the broker (PostgreSQL idles: no connector needs it)
    broker = services.broker
    results: dict[str, float] = {}
    try:
        mqtt.start()
        settings = Settings(kafka_bootstrap=broker.bootstrap, topic_prefix="benchcon", data_dir=root,
                            log_level="WARNING")
        ensure_topics(settings)
        run = _Run(root, child_env(settings))

        print(f"bench-connectors: replay of {events:,} events…", flush=True)
        path = root / "history.ndjson"
        path.write_text("".join(json.dumps(e) + "\n" for e in _events("payment", events, 1)))
        t0 = time.perf_counter()
        proc = run.connector("replay", str(path))
        if proc.wait(600) != 0:
            raise RuntimeError(f"replay failed; see {root / 'replay.log'}")
        results["replay"] = events / (time.perf_counter() - t0)

        print(f"bench-connectors: dvc poller over {events:,} changes…", flush=True)
        fake = FakeDvc(token="bench").start()
        fake.journal.append(c for c in map(change_of, _events("dossier", events, 2)) if c)
        last = fake.journal.page(0, 0)["last_seq"]
        proc = run.connector("dvc", extra={"IOC_DVC_URL": fake.url, "IOC_DVC_TOKEN": "bench",
                                           "IOC_DVC_PAGE_SIZE": "1000"})
        results["dvc"] = last / run.timed(lambda: _checkpoint(root, "dvc").get("seq", 0) >= last, proc)
        stop(proc)
        fake.stop()

        port = free_port()
        secret = "bench-secret"
        proc = run.connector("payments", extra={"IOC_PAYMENTS_WEBHOOK_SECRET": secret,
                                                "IOC_PAYMENTS_PORT": str(port)})
        wait_until(lambda: http_ok(f"http://127.0.0.1:{port}/healthz"), timeout_s=30, what="payments",
                   alive=lambda: proc.poll() is None, interval_s=0.1)
        hooks = min(events, 5000)
        sim_area = geography_of(Settings()).units[0].code
        for clients in (1, 4):
            print(f"bench-connectors: {hooks:,} payment webhooks from {clients} client(s)…", flush=True)
            bodies = [json.dumps({"id": f"w{clients}-{i}", "type": "payment.succeeded",
                                  "created": int(time.time()),
                                  "data": {"transaction_id": f"T{clients}-{i}", "amount": 1000 + i,
                                           "currency": "VND", "method": "qr", "purpose": "fee",
                                           "area": sim_area,
                                           "paid_at": datetime.now(UTC).isoformat()}}).encode()
                      for i in range(hooks)]
            failures: list[int] = []

            def post_all(share: list[bytes], failures: list[int] = failures) -> None:
                with httpx.Client(timeout=30) as http:
                    for body in share:
                        answer = http.post(f"http://127.0.0.1:{port}/webhooks/payments", content=body,
                                           headers={"X-Signature": sign(secret.encode(),
                                                                        int(time.time()), body)})
                        if answer.status_code != 200:
                            failures.append(answer.status_code)

            threads = [threading.Thread(target=post_all, args=(bodies[i::clients],))
                       for i in range(clients)]
            t0 = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            if failures:
                raise RuntimeError(f"webhooks refused: {failures[:5]}")
            results[f"payments_{clients}"] = hooks / (time.perf_counter() - t0)
        stop(proc)

        messages = list(station_messages(_events("sensor", events, 3)))
        readings = sum(len(json.loads(p)["readings"]) for _, p in messages)
        print(f"bench-connectors: {len(messages):,} MQTT station messages ({readings:,} readings)…",
              flush=True)
        proc = run.connector("sensors", extra={"IOC_MQTT_PORT": str(mqtt.port)})
        spool = root / "connectors" / "sensors.spool"
        wait_until(spool.exists, timeout_s=30, what="sensors connector", interval_s=0.1)
        time.sleep(1.0)
        client = mqtt_client("bench-stations", "stations", "")
        client.connect("127.0.0.1", mqtt.port)
        client.loop_start()
        t0 = time.perf_counter()
        infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
        for info in infos:
            info.wait_for_publish(60)

        def all_published() -> bool:
            with open(spool, "rb") as src:
                lines = sum(1 for _ in src)
            return lines >= len(messages) and _checkpoint(root, "sensors").get("offset", 0) == \
                spool.stat().st_size

        wait_until(all_published, timeout_s=600, what="sensor readings", interval_s=0.02)
        results["sensors_readings"] = readings / (time.perf_counter() - t0)
        results["sensors_messages"] = len(messages) / (time.perf_counter() - t0)
        client.loop_stop()
        client.disconnect()
        stop(proc)
    finally:
        mqtt.stop()
        services.stop()
    return results


def print_connector_results(results: dict[str, float]) -> None:
    print("")
    print(f"replay         {results['replay']:>9,.0f} events/s  (NDJSON file → acked in Kafka)")
    print(f"dvc            {results['dvc']:>9,.0f} events/s  (pages of 1,000 changes from the fake system)")
    print(f"payments       {results['payments_1']:>9,.0f} webhooks/s from 1 client, "
          f"{results['payments_4']:,.0f} from 4 (one event each, acked before 200)")
    print(f"sensors        {results['sensors_readings']:>9,.0f} readings/s  "
          f"({results['sensors_messages']:,.0f} MQTT messages/s, QoS 1)")
