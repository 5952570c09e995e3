"""``ioc bench-ingest``: events/s accepted by HTTP ingest on the embedded stack.

Starts its own broker, database and one API process, then posts simulated events in
batches from 1 and from several concurrent clients (each a thread with its own connection),
and prints events/s accepted (202 received, so acked by the broker) and request latency.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from ioc.bench import simulated_records
from ioc.credentials import ensure_credentials
from ioc.embedded.broker import EmbeddedBroker
from ioc.embedded.postgres import EmbeddedPostgres
from ioc.embedded.processes import free_port, wait_until
from ioc.settings import Settings
from ioc.storage.migrate import migrate
from ioc.topics import ensure_topics


def _ready(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _post_all(url: str, token: str, bodies: list[bytes], latencies: list[float],
              lock: threading.Lock) -> None:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/cloudevents-batch+json"}
    mine: list[float] = []
    with httpx.Client(timeout=60) as http:
        for body in bodies:
            t0 = time.perf_counter()
            answer = http.post(url, content=body, headers=headers)
            mine.append(time.perf_counter() - t0)
            if answer.status_code != 202 or answer.json()["rejected"]:
                raise RuntimeError(f"ingest answered {answer.status_code}: {answer.text[:300]}")
    with lock:
        latencies.extend(mine)


def run_ingest_bench(events: int, batch: int, clients: list[int]) -> list[dict[str, float]]:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    root = Path(tempfile.mkdtemp(prefix="ioc-bench-ingest-"))
    pg = EmbeddedPostgres(root / "postgres", free_port(), root / "postgres.log")
    broker = EmbeddedBroker("127.0.0.1", free_port(), root / "broker.log")
    api: subprocess.Popen[bytes] | None = None
    results: list[dict[str, float]] = []
    try:
        pg.start()
        broker.start()
        settings = Settings(kafka_bootstrap=broker.bootstrap, database_url=pg.url,
                            topic_prefix="benchin", data_dir=root)
        ensure_topics(settings)
        migrate(settings.database_url)
        token = ensure_credentials(root / "credentials.json", settings.database_url)["integrator"]
        port = free_port()
        env = {**os.environ, "IOC_KAFKA_BOOTSTRAP": broker.bootstrap, "IOC_DATABASE_URL": pg.url,
               "IOC_TOPIC_PREFIX": "benchin", "IOC_DATA_DIR": str(root), "IOC_LOG_LEVEL": "WARNING"}
        log = open(root / "api.log", "ab")  # noqa: SIM115
        api = subprocess.Popen([sys.executable, "-m", "ioc", "api", "--port", str(port)], env=env,
                               stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: _ready(f"{base}/readyz"), timeout_s=60, what="API",
                   alive=lambda: api is not None and api.poll() is None, interval_s=0.2)
        for n_clients in clients:
            print(f"bench-ingest: {events:,} events in batches of {batch} from {n_clients} "
                  f"client(s)…", flush=True)
            records = simulated_records(events, 10 + n_clients, datetime.now(UTC))
            values = [json.loads(v) for _, v in records]
            bodies = [json.dumps(values[i:i + batch]).encode() for i in range(0, len(values), batch)]
            shares = [bodies[i::n_clients] for i in range(n_clients)]
            latencies: list[float] = []
            lock = threading.Lock()
            threads = [threading.Thread(target=_post_all, args=(f"{base}/api/v1/events", token,
                                                                share, latencies, lock))
                       for share in shares]
            t0 = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - t0
            if len(latencies) != len(bodies):
                raise RuntimeError(f"some requests failed; see {root / 'api.log'}")
            ordered = sorted(latencies)
            results.append({"clients": n_clients, "events_per_s": len(values) / elapsed,
                            "p50_ms": ordered[len(ordered) // 2] * 1000,
                            "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000})
    finally:
        if api is not None:
            api.terminate()
            api.wait(30)
        broker.stop()
        pg.stop()
    return results


def print_ingest_results(results: list[dict[str, float]], batch: int) -> None:
    print("")
    for r in results:
        print(f"HTTP ingest  {r['events_per_s']:>9,.0f} events/s accepted  {r['clients']:.0f} "
              f"client(s), batches of {batch}  request p50 {r['p50_ms']:.1f} ms"
              f"  p99 {r['p99_ms']:.1f} ms")
