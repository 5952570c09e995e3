"""``ioc bench``: one stream worker on the embedded stack, measured, on one storage layout
or on both (each on its own fresh stack, one after the other), side by side.

1. Throughput: N simulated events are published while the worker is stopped; the worker
   is started and the time from its first stored batch to the last is measured.
2. Delay: events are published at a fixed rate while the worker runs; each record's
   delay is the time from its publish to the moment its offset is seen committed with its
   KPIs (polled every 10 ms).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from connectors.publisher import EventPublisher, event_key
from connectors.simulator import Simulator
from ioc.embedded.broker import EmbeddedBroker
from ioc.embedded.postgres import EmbeddedPostgres, timescaledb_library
from ioc.embedded.processes import free_port
from ioc.reference import load_reference
from ioc.settings import Settings
from ioc.storage.layout import RequestedLayout, layout_of
from ioc.storage.migrate import migrate
from ioc.topics import ensure_topics


def layouts_to_run(choice: str | None) -> list[RequestedLayout]:
    """The layouts ``ioc bench --layout`` measures: by default both when the embedded
    PostgreSQL has TimescaleDB, plain PostgreSQL alone (saying why) when it has not."""
    if choice is None:
        if timescaledb_library() is None:
            print("bench: TimescaleDB is not installed in the embedded PostgreSQL; measuring"
                  " plain PostgreSQL only (see docs/design.md to build it)", flush=True)
            return ["postgres"]
        return ["postgres", "timescaledb"]
    if choice == "both":
        return ["postgres", "timescaledb"]
    if choice == "auto":
        return ["postgres" if timescaledb_library() is None else "timescaledb"]
    if choice in ("postgres", "timescaledb"):
        return [choice]  # type: ignore[list-item]
    raise ValueError(f"unknown layout {choice!r}")


def simulated_records(count: int, seed: int, now: datetime) -> list[tuple[bytes | None, bytes]]:
    """``count`` simulated events over the last hours, as publishable records."""
    sim = Simulator(load_reference(), seed=seed, source="bench", rate=400, start=now)
    out: list[tuple[bytes | None, bytes]] = []
    t = now - timedelta(hours=6)
    while len(out) < count:
        for ev in sim.between(t, t + timedelta(seconds=30)):
            out.append((event_key(ev), json.dumps(ev, separators=(",", ":")).encode()))
        t += timedelta(seconds=30)
    return out[:count]


def _committed(conn: psycopg.Connection, cluster_id: str, settings: Settings) -> dict[int, int]:
    rows = conn.execute(
        "SELECT partition, next_offset FROM consumer_offsets WHERE cluster_id = %s AND consumer = %s"
        " AND topic = %s", (cluster_id, settings.worker_id, settings.events_topic)).fetchall()
    return {p: o for p, o in rows}


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile of ``values`` (nearest rank, no interpolation)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_bench(events: int, rate: float, seconds: float, batch_size: int,
              layout: RequestedLayout = "auto") -> dict[str, float]:
    root = Path(tempfile.mkdtemp(prefix="ioc-bench-"))
    pg = EmbeddedPostgres(root / "postgres", free_port(), root / "postgres.log")
    broker = EmbeddedBroker("127.0.0.1", free_port(), root / "broker.log")
    results: dict[str, float] = {}
    worker: subprocess.Popen[bytes] | None = None
    try:
        pg.start()
        broker.start()
        settings = Settings(kafka_bootstrap=broker.bootstrap, database_url=pg.url, topic_prefix="bench",
                            data_dir=root, worker_id="bench", worker_batch_size=batch_size)
        ensure_topics(settings)
        migrate(settings.database_url, layout=layout)
        print(f"bench: storage layout {layout_of(settings.database_url)}", flush=True)
        env = {**os.environ, "IOC_KAFKA_BOOTSTRAP": broker.bootstrap, "IOC_DATABASE_URL": pg.url,
               "IOC_TOPIC_PREFIX": "bench", "IOC_DATA_DIR": str(root), "IOC_WORKER_ID": "bench",
               "IOC_WORKER_BATCH_SIZE": str(batch_size),
               "IOC_STORAGE_LAYOUT": layout, "IOC_LOG_LEVEL": "WARNING"}
        conn = psycopg.connect(pg.url, autocommit=True)
        publisher = EventPublisher(settings, client_id="bench")

        def start_worker() -> subprocess.Popen[bytes]:
            log = open(root / "worker.log", "ab")  # noqa: SIM115
            return subprocess.Popen([sys.executable, "-m", "ioc", "worker"], env=env,
                                    stdout=log, stderr=subprocess.STDOUT)

        now = datetime.now(UTC)
        print(f"bench: generating {events:,} simulated events…", flush=True)
        records = simulated_records(events, 1, now)
        print("bench: publishing them with the worker stopped…", flush=True)
        t0 = time.perf_counter()
        acks = publisher.publish_raw(records, timeout_s=120)
        print(f"bench: published in {time.perf_counter() - t0:.1f} s", flush=True)
        targets: dict[int, int] = {}
        for partition, offset in acks:
            targets[partition] = max(targets.get(partition, 0), offset + 1)
        total = sum(targets.values())

        worker = start_worker()
        first: float | None = None
        last_print = 0.0
        while True:
            done = _committed(conn, broker.cluster_id, settings)
            consumed = sum(min(done.get(p, 0), o) for p, o in targets.items())
            stamp = time.perf_counter()
            if consumed and first is None:
                first, first_count = stamp, consumed
            if stamp - last_print > 2 and first is not None:
                print(f"bench: {consumed:,}/{total:,} processed", flush=True)
                last_print = stamp
            if consumed >= total:
                break
            if worker.poll() is not None:
                raise RuntimeError(f"worker exited; see {root / 'worker.log'}")
            time.sleep(0.01)
        assert first is not None
        elapsed = time.perf_counter() - first
        results["throughput_events_per_s"] = (total - first_count) / elapsed if elapsed else float("inf")
        results["throughput_events"] = float(total)

        print(f"bench: publishing at {rate:,.0f} events/s for {seconds:.0f} s to measure delay…",
              flush=True)
        live = simulated_records(int(rate * seconds), 2, datetime.now(UTC))
        sent: list[tuple[int, int, float]] = []
        lock = threading.Lock()

        def produce() -> None:
            chunk = max(1, int(rate / 50))
            start = time.perf_counter()
            for i in range(0, len(live), chunk):
                wait = start + i / rate - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                stamp = time.perf_counter()
                for partition, offset in publisher.publish_raw(live[i:i + chunk]):
                    with lock:
                        sent.append((partition, offset, stamp))

        thread = threading.Thread(target=produce)
        thread.start()
        pending: list[tuple[int, int, float]] = []
        delays: list[float] = []
        while thread.is_alive() or pending or len(delays) < len(live):
            with lock:
                pending.extend(sent)
                sent.clear()
            done = _committed(conn, broker.cluster_id, settings)
            stamp = time.perf_counter()
            still = []
            for partition, offset, published in pending:
                if done.get(partition, 0) > offset:
                    delays.append(stamp - published)
                else:
                    still.append((partition, offset, published))
            pending = still
            if not thread.is_alive() and not pending and len(delays) >= len(live):
                break
            time.sleep(0.01)
        results["delay_p50_ms"] = percentile(delays, 0.5) * 1000
        results["delay_p99_ms"] = percentile(delays, 0.99) * 1000
        results["delay_mean_ms"] = statistics.fmean(delays) * 1000
        results["delay_events"] = float(len(delays))
        results["ledger_bytes_per_million"] = conn.execute(
            "SELECT pg_total_relation_size('event_ledger')::float8 * 1e6 / greatest(count(*), 1)"
            " FROM event_ledger").fetchone()[0]  # type: ignore[index]
        publisher.close()
        conn.close()
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(30)
        broker.stop()
        pg.stop()
    return results


def run_benches(layouts: list[RequestedLayout], events: int, rate: float, seconds: float,
                batch_size: int) -> dict[str, dict[str, float]]:
    """``run_bench`` once per layout, each on a fresh stack; {layout: results}."""
    results: dict[str, dict[str, float]] = {}
    for layout in layouts:
        print(f"bench: --- {layout} ---", flush=True)
        results[layout] = run_bench(events, rate, seconds, batch_size, layout)
    return results


_ROWS = (
    ("throughput", "throughput_events_per_s", "{:,.0f} events/s", 1.0),
    ("delay p50", "delay_p50_ms", "{:,.1f} ms", 1.0),
    ("delay p99", "delay_p99_ms", "{:,.1f} ms", 1.0),
    ("ledger", "ledger_bytes_per_million", "{:,.1f} MB/M events", 1e-6),
)


def print_results(results: dict[str, dict[str, float]]) -> None:
    """One column per layout, side by side."""
    names = list(results)
    width = max(22, *(len(n) + 2 for n in names))
    print("")
    print(f"{'':<12}" + "".join(f"{name:>{width}}" for name in names))
    for label, key, fmt, scale in _ROWS:
        print(f"{label:<12}" + "".join(f"{fmt.format(r[key] * scale):>{width}}"
                                       for r in results.values()))
    first = next(iter(results.values()))
    print(f"\none worker, whole catalogue; throughput over {first['throughput_events']:,.0f}"
          f" events published with the worker stopped; delay publish → KPIs committed over"
          f" {first['delay_events']:,.0f} events at a fixed rate")
