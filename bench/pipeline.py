"""``ioc bench pipeline`` (plain ``ioc bench``): one stream worker on the embedded stack,
measured, on one storage layout or on both (each on its own fresh stack, one after the
other), side by side.

1. Throughput: N simulated events are published while the worker is stopped; the worker
   is started and the time from its first stored batch to the last is measured.
2. Delay: events are published at a fixed rate while the worker runs; each record's
   delay is the time from its publish to the moment its offset is seen committed with its
   KPIs (polled every 10 ms).
"""

from __future__ import annotations

import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from bench.measure import percentile, simulated_records
from connectors.publisher import EventPublisher
from ioc.embedded.child_env import child_env
from ioc.embedded.postgres import timescaledb_library
from ioc.embedded.processes import spawn_ioc, stop
from ioc.embedded.services import embedded_services, prepare
from ioc.settings import Settings
from ioc.storage.layout import RequestedLayout, layout_of
from ioc.storage.ledger import bytes_per_key
from ioc.storage.offsets import committed_positions


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


def run_bench(events: int, rate: float, seconds: float, batch_size: int,
              layout: RequestedLayout = "auto") -> dict[str, float]:
    root = Path(tempfile.mkdtemp(prefix="ioc-bench-"))
    results: dict[str, float] = {}
    worker: subprocess.Popen[bytes] | None = None
    with embedded_services(root, log_dir=root) as services:
        try:
            settings = Settings(kafka_bootstrap=services.bootstrap, database_url=services.database_url,
                                topic_prefix="bench", data_dir=root, worker_id="bench",
                                worker_batch_size=batch_size, storage_layout=layout, log_level="WARNING")
            prepare(settings, root / "credentials.json")
            print(f"bench: storage layout {layout_of(settings.database_url)}", flush=True)
            env = child_env(settings)
            conn = psycopg.connect(settings.database_url, autocommit=True)
            publisher = EventPublisher(settings, client_id="bench")

            def committed() -> dict[int, int]:
                return committed_positions(conn, services.broker.cluster_id, settings.worker_id,
                                           settings.events_topic)

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

            worker = spawn_ioc("worker", log_file=root / "worker.log", env=env)
            first: float | None = None
            last_print = 0.0
            while True:
                done = committed()
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
            delays = _delays(publisher, committed, simulated_records(int(rate * seconds), 2,
                                                                     datetime.now(UTC)), rate)
            results["delay_p50_ms"] = percentile(delays, 0.5) * 1000
            results["delay_p99_ms"] = percentile(delays, 0.99) * 1000
            results["delay_mean_ms"] = statistics.fmean(delays) * 1000
            results["delay_events"] = float(len(delays))
            results["ledger_bytes_per_million"] = bytes_per_key(conn) * 1e6
            publisher.close()
            conn.close()
        finally:
            if worker is not None:
                stop(worker, timeout_s=30)
    return results


def _delays(publisher: EventPublisher, committed: Callable[[], dict[int, int]],
            live: list[tuple[bytes | None, bytes]], rate: float) -> list[float]:
    """Publish ``live`` at ``rate`` from a thread; each record's seconds from its publish to
    its offset seen committed."""
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
        done = committed()
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
    return delays


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
