"""``ioc bench feed``: many WebSocket clients on one API process, as wall screens.

Starts its own broker, database, stream worker and one API process; opens N clients that
subscribe as the wall page does (its tiles' KPIs for the province and the KPI it ranks units
by for every unit, today's values and gauges), then publishes simulated events at the
simulator's rate. Each ``kpi`` message carries
``changed_at`` (when the worker committed the value); a client's delay is its receipt time
minus that. Prints delay p50/p99 over every message every client received, messages/s
delivered, and the API process's CPU and resident memory during the run.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from kafka import KafkaConsumer, TopicPartition
from websockets.asyncio.client import connect

from bench.measure import percentile
from bench.stack import bench_stack
from connectors.publisher import EventPublisher
from connectors.simulator import Simulator
from ioc.geography import geography_of
from ioc.settings import Settings

MEASURED_EVERY = 10
"""One client in this many parses what it receives and records delays; the others only
receive, so that the clients' own CPU (on the same two cores) does not become the delay."""
WALL_KPIS = ["dossier.received", "dossier.resolved", "dossier.on_time_rate", "dossier.online_rate",
             "dossier.full_online_rate", "dossier.open", "dossier.overdue_open", "payment.count",
             "payment.non_cash_rate", "sensor.stations_silent", "index.value"]
"""What the wall page shows (its tiles, dashboards/wall/wall.js ``TILES``)."""
TODAY = ["1d", "now"]


def _wall(ranked_by: str) -> dict[str, Any]:
    """The wall page's subscription (wall.js ``subscribe``): its tiles for the province, and
    every unit's value of the KPI its grid ranks units by."""
    return {"type": "subscribe", "kpis": WALL_KPIS, "areas": ["province"], "buckets": TODAY,
            "also": [{"kpis": [ranked_by], "areas": None, "buckets": TODAY}]}


SUBSCRIPTIONS = {
    "wall": _wall("dossier.on_time_rate"),  # the wall's default ranking
    "wall-overdue": _wall("dossier.overdue_open"),  # ranked by a gauge: every unit's, every tick
    "wall-index": _wall("index.value"),  # ranked by the service index
    "tiles-everywhere": {"type": "subscribe", "kpis": WALL_KPIS, "areas": None, "buckets": TODAY},
    "all-today": {"type": "subscribe", "kpis": None, "areas": None, "buckets": TODAY},
}
"""``--subscription``: the wall's, ranked by default or by a gauge; every tile's KPI for every
unit (what the wall subscribed to before it asked for one KPI per unit); every KPI."""


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def _clients(url: str, token: str, n: int, seconds: float, started: threading.Event,
                   delays: list[float], gauge_delays: list[float], subscription: dict[str, Any]) -> None:
    stop_at: list[float] = []
    # as the wall does: the subscription rides with the token, so the first snapshot is its
    auth = json.dumps({"type": "auth", "token": token,
                       "subscribe": {k: v for k, v in subscription.items() if k != "type"}})

    async def one(i: int) -> None:
        async with connect(url, open_timeout=60, max_queue=None, ping_interval=None) as ws:
            await ws.send(auth)
            snapshots = 0
            ready.add(i)
            if len(ready) == n:
                started.set()
            while not stop_at or time.time() < stop_at[0]:
                parses = not i % MEASURED_EVERY or not snapshots
                try:
                    # the others take the frame's bytes as they are: a wall screen decodes its
                    # frames on its own machine, not on the two cores the server runs on
                    text = await asyncio.wait_for(ws.recv(decode=parses), 1.0)
                except TimeoutError:
                    continue
                if not parses:
                    continue  # receives like the others, parses nothing: the load is the server's
                received = json.loads(text)
                if received["type"] == "snapshot":
                    snapshots += 1
                    continue
                arrived = time.time()
                for message in received["messages"] if received["type"] == "batch" else [received]:
                    if message["type"] != "kpi" or "changed_at" not in message or not snapshots:
                        continue
                    delay = arrived - datetime.fromisoformat(message["changed_at"]).timestamp()
                    delays.append(delay)
                    if message["bucket"] == "now":
                        gauge_delays.append(delay)

    ready: set[int] = set()

    async def timer() -> None:
        while not started.is_set():
            await asyncio.sleep(0.1)
        stop_at.append(time.time() + seconds + 3)

    tasks = []
    for i in range(n):
        tasks.append(asyncio.create_task(one(i)))
        if i % 50 == 49:
            await asyncio.sleep(0.05)  # do not open a thousand sockets in one burst
    await asyncio.gather(timer(), *tasks)


def _probe(bootstrap: str, topic: str, stop: threading.Event, delays: list[float],
           sends: list[float]) -> None:
    """A consumer of the change topic beside the clients: how late records reach a reader
    that is not the API (so a delay seen here is upstream of the API), and how long after
    the commit the worker handed them to its producer (the record's timestamp)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap.split(","), fetch_max_wait_ms=100,
                             enable_auto_commit=False, group_id=None)
    partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
    consumer.assign(partitions)
    consumer.seek_to_end(*partitions)
    try:
        while not stop.is_set():
            for records in consumer.poll(timeout_ms=200).values():
                arrived = time.time()
                for record in records:
                    changed = [datetime.fromisoformat(m["changed_at"]).timestamp()
                               for m in json.loads(record.value) if "changed_at" in m]
                    if changed:
                        delays.append(arrived - min(changed))
                        sends.append(record.timestamp / 1000 - min(changed))
    finally:
        consumer.close()


def _server_histogram(api_url: str, name: str) -> dict[float, float]:
    """Cumulative counts of one of the API's histograms, by upper bound."""
    text = httpx.get(f"{api_url}/metrics", timeout=30).text
    counts: dict[float, float] = {}
    for line in text.splitlines():
        if line.startswith(f"{name}_bucket{{"):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            counts[float("inf") if bound == "+Inf" else float(bound)] = float(line.rsplit(" ", 1)[1])
    return counts


def _bucket_quantile(before: dict[float, float], after: dict[float, float], q: float) -> float:
    """The upper bound of the histogram bucket holding the ``q`` quantile of what was added."""
    bounds = sorted(after)
    added = [after[b] - before.get(b, 0.0) for b in bounds]
    if not added or added[-1] <= 0:
        return 0.0
    return next(b for b, n in zip(bounds, added, strict=True) if n >= q * added[-1])


class GcPauses:
    """The longest garbage-collector pause in this (the clients') process."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.longest = max(self.longest, time.perf_counter() - self._started)


def run_feed_bench(clients: int, rate: float, seconds: float, subscription: str = "wall") -> dict[str, Any]:
    with bench_stack("benchfeed", processes=("worker", "api"),
                     env={"IOC_WS_MAX_CONNECTIONS_PER_TOKEN": str(clients + 10)}) as stack:
        api = stack.procs["api"]
        print(f"bench-feed: opening {clients:,} WebSocket clients…", flush=True)
        url = stack.api_url.replace("http://", "ws://") + "/ws"
        started = threading.Event()
        delays: list[float] = []
        gauge_delays: list[float] = []
        loop_thread = threading.Thread(
            target=lambda: asyncio.run(_clients(url, stack.tokens["operator"], clients, seconds, started,
                                                delays, gauge_delays, SUBSCRIPTIONS[subscription])))
        loop_thread.start()
        if not started.wait(300):
            raise RuntimeError("the clients did not all connect")
        time.sleep(2)
        # A thousand connections' objects stay for the whole run: frozen, the collector no
        # longer walks them (on separate screens, no such pause would delay the others)
        gc.collect()
        gc.freeze()
        print(f"bench-feed: {clients:,} clients connected; publishing {rate:g} events/s for "
              f"{seconds:.0f} s…", flush=True)
        pauses = GcPauses()
        gc.callbacks.append(pauses)
        probe_stop, probe_delays, probe_sends = threading.Event(), list[float](), list[float]()
        probe = threading.Thread(target=_probe, args=(stack.settings.kafka_bootstrap,
                                                      stack.settings.changes_topic, probe_stop,
                                                      probe_delays, probe_sends))
        probe.start()
        publisher = EventPublisher(stack.settings, client_id="bench-feed")
        sim = Simulator(geography_of(Settings()), seed=7, source="benchfeed", rate=rate,
                        start=datetime.now(UTC))
        server0 = _server_histogram(stack.api_url, "ioc_feed_delay_seconds")
        lag0 = _server_histogram(stack.api_url, "ioc_api_event_loop_lag_seconds")
        cpu0, t0 = _cpu_seconds(api.pid), time.monotonic()
        rss_peak = 0.0
        last = datetime.now(UTC)
        while time.monotonic() - t0 < seconds:
            time.sleep(0.25)
            t = datetime.now(UTC)
            publisher.publish(sim.between(last, t))
            last = t
            rss_peak = max(rss_peak, _rss_mb(api.pid))
        cpu = (_cpu_seconds(api.pid) - cpu0) / (time.monotonic() - t0)
        time.sleep(1)
        server1 = _server_histogram(stack.api_url, "ioc_feed_delay_seconds")
        lag1 = _server_histogram(stack.api_url, "ioc_api_event_loop_lag_seconds")
        publisher.close()
        loop_thread.join(120)
        probe_stop.set()
        probe.join(10)
        gc.callbacks.remove(pauses)
        gc.unfreeze()
    if not delays:
        raise RuntimeError(f"no kpi message reached the clients; see {stack.root}")
    return {"clients": clients, "subscription": subscription, "messages": len(delays),
            "messages_per_s": len(delays) * MEASURED_EVERY / seconds,
            "p50_ms": percentile(delays, 0.5) * 1000, "p99_ms": percentile(delays, 0.99) * 1000,
            "max_ms": max(delays) * 1000, "api_cpu_pct": cpu * 100, "api_rss_mb": rss_peak,
            "gauge_messages": len(gauge_delays),
            "gauge_p99_ms": percentile(gauge_delays, 0.99) * 1000 if gauge_delays else 0.0,
            "probe_p99_ms": percentile(probe_delays, 0.99) * 1000 if probe_delays else 0.0,
            "probe_max_ms": max(probe_delays, default=0.0) * 1000,
            "send_max_ms": max(probe_sends, default=0.0) * 1000,
            "client_gc_max_ms": pauses.longest * 1000,
            "server_p50_ms": _bucket_quantile(server0, server1, 0.5) * 1000,
            "server_p99_ms": _bucket_quantile(server0, server1, 0.99) * 1000,
            "server_p999_ms": _bucket_quantile(server0, server1, 0.999) * 1000,
            "lag_max_ms": _bucket_quantile(lag0, lag1, 1.0) * 1000}


def print_feed_results(r: dict[str, Any]) -> None:
    print("")
    what = {"wall": "the wall's (tiles for the province, the on-time rate for every unit)",
            "wall-overdue": "the wall's ranked by a gauge (overdue open dossiers for every unit)",
            "wall-index": "the wall's ranked by the service index (index.value for every unit)",
            "tiles-everywhere": "every tile's KPI for every unit",
            "all-today": "every KPI, sensors included"}[r["subscription"]]
    print(f"clients      {r['clients']:>10,.0f}  WebSocket; subscription {what}, 1d and gauges")
    print(f"delivered    {r['messages_per_s']:>10,.0f}  kpi values/s to all clients "
          f"(estimated; {r['messages']:,.0f} measured by one client in {MEASURED_EVERY})")
    print(f"delay p50    {r['p50_ms']:>10,.1f} ms  KPI committed → client received")
    print(f"delay p99    {r['p99_ms']:>10,.1f} ms  (max {r['max_ms']:,.0f} ms)")
    print(f"gauges       {r['gauge_messages']:>10,.0f}  messages, p99 {r['gauge_p99_ms']:,.1f} ms")
    print(f"probe        {r['probe_p99_ms']:>10,.1f} ms  p99 (max {r['probe_max_ms']:,.0f} ms) committed → "
          f"record read by a consumer beside the API; worker commit → producer at most "
          f"{r['send_max_ms']:,.0f} ms")
    print(f"API side     {r['server_p99_ms']:>10,.0f} ms  p99 bucket bound (p50 ≤ {r['server_p50_ms']:,.0f}, "
          f"p99.9 ≤ {r['server_p999_ms']:,.0f}): committed → frame written to the socket, every client")
    print(f"API loop lag {r['lag_max_ms']:>10,.0f} ms  worst bucket bound (a 0.1 s sleep woke this late)")
    print(f"clients' GC  {r['client_gc_max_ms']:>10,.1f} ms  longest pause in the clients' process")
    print(f"API process  {r['api_cpu_pct']:>10,.0f} % CPU, {r['api_rss_mb']:,.0f} MB resident (peak)")

