"""``ioc bench history``: reads of the API over weeks of stored history.

For each storage layout, on its own fresh database: ``--days`` days of history of a
province's units (:mod:`bench.history_data`, the simulator's volumes) are COPYed into the
KPI and sensor tables and brought to their production state (:mod:`bench.history_load`);
then one ``ioc api`` process is started and, with a reader's (leader) token, timed:

- ``GET /api/v1/kpis/{id}/series`` with bucket=1m over one local day, bucket=1h over a week
  and bucket=1d over the whole window, for counters and ratios (dossier.received,
  dossier.on_time_rate, dossier.online_rate, payment.value_vnd) and for a sensor aggregate
  (sensor.avg, sensor.max with metric=pm2_5), one request in four for the province, the
  others for a random unit; ``--requests`` of each, one after the other;
- the same mix from ``--clients`` concurrent clients;
- the live feed: from opening the WebSocket to its first ``snapshot`` (the default
  subscription, every KPI), and from sending the wall's subscription to its snapshot.

Each line prints p50/p95/p99 (nearest rank) and PASS or FAIL against p99 ≤ 100 ms.
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import connect

from bench.feed import SUBSCRIPTIONS
from bench.history_data import HistoryGenerator, utc_now_minute
from bench.history_load import LoadResult, load_history
from bench.measure import percentile
from bench.stack import BenchStack, bench_stack
from ioc.geography import Geography, load_geography
from ioc.kpis.buckets import Bucket, bucket_start
from ioc.storage.layout import RequestedLayout

TARGET_P99_MS = 100.0
KPIS = ("dossier.received", "dossier.on_time_rate", "dossier.online_rate", "payment.value_vnd")
SENSOR_KPIS = ("sensor.avg", "sensor.max")
SPANS = {Bucket.MINUTE: timedelta(days=1), Bucket.HOUR: timedelta(days=7)}
"""Range asked per bucket; 1d asks for the whole window."""


@dataclass
class HistoryResult:
    layout: str
    load: LoadResult
    timings: dict[str, list[float]] = field(default_factory=dict)
    """Seconds per request, by query kind."""


AfterLoad = Callable[[BenchStack, HistoryGenerator, LoadResult], None]


class Queries:
    """Random series requests over the loaded window."""

    def __init__(self, gen: HistoryGenerator, seed: int = 5) -> None:
        self.gen = gen
        self.rng = random.Random(seed)
        self.offset = gen.offset
        self.sensor_areas = sorted({s.area for s in gen.stations if "pm2_5" in s.metrics})

    def _iso(self, t: datetime) -> str:
        return t.astimezone(self.gen.geography.tz).isoformat()

    def params(self, bucket: Bucket, sensor: bool) -> tuple[str, dict[str, str]]:
        rng, gen = self.rng, self.gen
        if bucket is Bucket.DAY:
            start, end = gen.start, gen.end
        else:
            span = min(SPANS[bucket], gen.end - gen.start)
            latest = gen.end - span
            pick = gen.start + (latest - gen.start) * rng.random()
            start = max(gen.start, bucket_start(pick, Bucket.DAY if bucket is Bucket.MINUTE
                                                else Bucket.HOUR, self.offset))
            end = start + span
        params = {"bucket": bucket.value, "start": self._iso(start), "end": self._iso(end)}
        if rng.random() >= 0.25:
            params["area"] = rng.choice(self.sensor_areas if sensor else gen.codes)
        if sensor:
            params["metric"] = "pm2_5"
            return rng.choice(SENSOR_KPIS), params
        return rng.choice(KPIS), params


def kinds() -> list[tuple[str, Bucket, bool]]:
    return [(f"{'sensor' if sensor else 'kpi'} {bucket.value} over "
             f"{'1 day' if bucket is Bucket.MINUTE else '7 days' if bucket is Bucket.HOUR else 'all days'}",
             bucket, sensor) for sensor in (False, True) for bucket in Bucket]


def _get(client: httpx.Client, queries: Queries, bucket: Bucket, sensor: bool) -> float:
    kpi, params = queries.params(bucket, sensor)
    t0 = time.perf_counter()
    response = client.get(f"/api/v1/kpis/{kpi}/series", params=params)
    elapsed = time.perf_counter() - t0
    if response.status_code != 200:
        raise RuntimeError(f"{kpi} {params}: HTTP {response.status_code} {response.text[:200]}")
    if not response.json()["points"]:
        raise RuntimeError(f"{kpi} {params}: no points; the history is not being read")
    return elapsed


def measure_series(stack: BenchStack, gen: HistoryGenerator, requests: int,
                   clients: int) -> dict[str, list[float]]:
    headers = {"Authorization": f"Bearer {stack.tokens['leader']}"}
    out: dict[str, list[float]] = {}
    queries = Queries(gen)
    with httpx.Client(base_url=stack.api_url, headers=headers, timeout=60) as client:
        for name, bucket, sensor in kinds():
            for _ in range(3):  # warm-up: connections, prepared statements
                _get(client, queries, bucket, sensor)
            out[name] = [_get(client, queries, bucket, sensor) for _ in range(requests)]
            print(f"history: {name}: {requests} requests, p99 "
                  f"{percentile(out[name], 0.99) * 1000:.1f} ms", flush=True)
    if clients > 1:
        mixed: list[float] = []
        lock = threading.Lock()

        def one(seed: int) -> None:
            q = Queries(gen, seed)
            with httpx.Client(base_url=stack.api_url, headers=headers, timeout=60) as c:
                for i in range(max(1, requests // clients) * len(kinds())):
                    _, bucket, sensor = kinds()[i % len(kinds())]
                    took = _get(c, q, bucket, sensor)
                    with lock:
                        mixed.append(took)

        threads = [threading.Thread(target=one, args=(100 + i,)) for i in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        out[f"all series, {clients} clients"] = mixed
    return out


def measure_snapshots(stack: BenchStack, requests: int) -> dict[str, list[float]]:
    url = stack.api_url.replace("http://", "ws://") + f"/ws?token={stack.tokens['leader']}"
    first: list[float] = []
    wall: list[float] = []
    for _ in range(requests + 3):
        t0 = time.perf_counter()
        with connect(url, open_timeout=60, max_size=None) as ws:
            message = json.loads(ws.recv(timeout=60))
            t1 = time.perf_counter()
            if message["type"] != "snapshot" or not message["values"]:
                raise RuntimeError(f"expected a snapshot with values, got {message['type']}")
            ws.send(json.dumps(SUBSCRIPTIONS["wall"]))
            t2 = time.perf_counter()
            while json.loads(ws.recv(timeout=60))["type"] != "snapshot":
                pass
            t3 = time.perf_counter()
        first.append(t1 - t0)
        wall.append(t3 - t2)
    return {"ws connect → first snapshot": first[3:], "wall subscribe → snapshot": wall[3:]}


def run_layout(layout: RequestedLayout, geography: Geography, province: str, days: int,
               requests: int, clients: int, rate: float, cache: Path | None,
               after_load: AfterLoad | None = None) -> HistoryResult:
    gen = HistoryGenerator(geography, days=days, end=utc_now_minute(), rate=rate)
    with bench_stack("benchhistory", processes=(), env={"IOC_PROVINCE": province},
                     layout=layout) as stack:
        try:
            print(f"history: --- {layout}: {days} days × {len(gen.codes)} units of {geography.province_name}"
                  f" ({province}), {gen.start:%Y-%m-%d %H:%M} → {gen.end:%Y-%m-%d %H:%M} UTC ---",
                  flush=True)
            load = load_history(stack.settings, gen, cache)
            result = HistoryResult(layout, load)
            stack.start_api()
            if after_load is not None:
                after_load(stack, gen, load)
            print(f"history: measuring {requests} requests per kind…", flush=True)
            result.timings.update(measure_series(stack, gen, requests, clients))
            result.timings.update(measure_snapshots(stack, requests))
        finally:
            root = stack.root
    shutil.rmtree(root, ignore_errors=True)
    return result


def run_history_bench(layouts: list[RequestedLayout], days: int, province: str, requests: int,
                      clients: int = 4, rate: float = 10.0,
                      after_load: AfterLoad | None = None) -> list[HistoryResult]:
    geography = load_geography(province)
    cache = Path(tempfile.mkdtemp(prefix="ioc-history-days-")) if len(layouts) > 1 else None
    try:
        return [run_layout(layout, geography, province, days, requests, clients, rate, cache,
                           after_load) for layout in layouts]
    finally:
        if cache is not None:
            shutil.rmtree(cache, ignore_errors=True)


def summary_lines(results: list[HistoryResult]) -> list[str]:
    lines: list[str] = []
    for r in results:
        load = r.load
        lines.append("")
        lines.append(f"{r.layout}: {load.events:,} events and {load.readings:,} readings as rows, "
                     f"loaded in {load.load_s:,.0f} s"
                     + (f", {load.compressed_chunks} chunks compressed in {load.compress_s:,.0f} s"
                        if load.compressed_chunks else "") + f", ANALYZE {load.analyze_s:,.0f} s")
        if load.unit_minutes:
            lines.append(f"  unit-minutes with a dossier or payment event: {load.active_unit_minutes:,} of "
                         f"{load.unit_minutes:,} ({load.active_unit_minutes / load.unit_minutes:.0%})")
        for table, rows in load.rows.items():
            lines.append(f"  {table:<10} {rows:>14,} rows  {load.bytes.get(table, 0) / 2**20:>9,.0f} MB")
        lines.append(f"  {'query':<34}{'n':>6}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}  p99 ≤ 100 ms")
        for kind, values in r.timings.items():
            ms = [percentile(values, q) * 1000 for q in (0.5, 0.95, 0.99)]
            verdict = "PASS" if ms[2] <= TARGET_P99_MS else "FAIL"
            lines.append(f"  {kind:<34}{len(values):>6}{ms[0]:>9.1f}{ms[1]:>9.1f}{ms[2]:>9.1f}  {verdict}")
    return lines


def as_json(results: list[HistoryResult]) -> dict[str, Any]:
    return {r.layout: {"rows": r.load.rows, "load_s": r.load.load_s, "bytes": r.load.bytes,
                       "p": {k: {str(q): percentile(v, q) * 1000 for q in (0.5, 0.95, 0.99)}
                             for k, v in r.timings.items()}} for r in results}
