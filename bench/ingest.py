"""``ioc bench ingest``: events/s accepted by HTTP ingest on the embedded stack.

Starts its own broker, database and one API process, then posts simulated events in
batches from 1 and from several concurrent clients (each a thread with its own connection),
and prints events/s accepted (202 received, so acked by the broker) and request latency.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import UTC, datetime

import httpx

from bench.measure import percentile, simulated_records
from bench.stack import bench_stack


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
    results: list[dict[str, float]] = []
    with bench_stack("benchin") as stack:
        token = stack.tokens["integrator"]
        for n_clients in clients:
            print(f"bench-ingest: {events:,} events in batches of {batch} from {n_clients} "
                  f"client(s)…", flush=True)
            records = simulated_records(events, 10 + n_clients, datetime.now(UTC))
            values = [json.loads(v) for _, v in records]
            bodies = [json.dumps(values[i:i + batch]).encode() for i in range(0, len(values), batch)]
            shares = [bodies[i::n_clients] for i in range(n_clients)]
            latencies: list[float] = []
            lock = threading.Lock()
            threads = [threading.Thread(target=_post_all, args=(f"{stack.api_url}/api/v1/events", token,
                                                                share, latencies, lock))
                       for share in shares]
            t0 = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - t0
            if len(latencies) != len(bodies):
                raise RuntimeError(f"some requests failed; see {stack.root / 'api.log'}")
            results.append({"clients": n_clients, "events_per_s": len(values) / elapsed,
                            "p50_ms": percentile(latencies, 0.5) * 1000,
                            "p99_ms": percentile(latencies, 0.99) * 1000})
    return results


def print_ingest_results(results: list[dict[str, float]], batch: int) -> None:
    print("")
    for r in results:
        print(f"HTTP ingest  {r['events_per_s']:>9,.0f} events/s accepted  {r['clients']:.0f} "
              f"client(s), batches of {batch}  request p50 {r['p50_ms']:.1f} ms"
              f"  p99 {r['p99_ms']:.1f} ms")
