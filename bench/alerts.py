"""``ioc bench alerts``: delay from the event that breaks a threshold to the webhook received.

Starts its own broker, database, one stream worker and the API; a local HTTP server is the
webhook target. A rule watches one area's on-time rate today (below 50 %, recovering at
50 %). Each trial publishes one late resolution (the rate drops below 50 %: the alert fires)
and times it until the ``alert.fired`` webhook arrives, then publishes one on-time resolution
(back to 50 %) and waits for ``alert.resolved``. Meanwhile simulated events for the other
areas keep the worker busy at ``--rate`` events/s. A second rule with a pending period
shows what the period adds beyond itself (the timer checks every ``IOC_ALERT_TICK_S``).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from bench.measure import percentile, simulated_records
from bench.stack import BenchStack, bench_stack
from connectors.publisher import EventPublisher
from ioc.embedded.processes import free_port
from ioc.events import to_cloudevent
from ioc.geography import geography_of
from ioc.settings import Settings

_UNITS = geography_of(Settings()).units
AREA, PENDING_AREA = _UNITS[0].code, _UNITS[1].code
"""Two units of the configured geography (IOC_PROVINCE): one rule fires at once, one waits."""


class Webhooks:
    def __init__(self) -> None:
        self.received: dict[tuple[str, str, int], float] = {}
        self.changed = threading.Condition()
        webhooks = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                at = time.time()
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                self.send_response(200)
                self.end_headers()
                with webhooks.changed:
                    alert = body["alert"]
                    webhooks.received.setdefault((body["type"], alert["rule_name"], alert["id"]), at)
                    webhooks.changed.notify_all()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_new(self, kind: str, rule: str, known: set[int], timeout_s: float = 60) -> tuple[int, float]:
        """The first ``kind`` delivery for an alert of ``rule`` not in ``known``: (alert id,
        time received)."""
        deadline = time.monotonic() + timeout_s
        with self.changed:
            while True:
                for (k, name, alert_id), at in self.received.items():
                    if k == kind and name == rule and alert_id not in known:
                        return alert_id, at
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no {kind} webhook within {timeout_s} s")
                self.changed.wait(left)


def _resolution(area: str, late: bool) -> tuple[bytes, bytes]:
    now = datetime.now(UTC)
    n = uuid.uuid4().hex[:16]
    due = now - timedelta(hours=1) if late else now + timedelta(days=1)
    event = to_cloudevent(source="bench.alerts", event_id=f"ba-{n}", type_="dossier.resolved",
                          time=now, data={"dossier_id": f"BA-{n}", "service_code": "S",
                                          "agency_code": "A", "area": area,
                                          "due_at": due.isoformat()})
    return f"BA-{n}".encode(), json.dumps(event).encode()


def _background(stack: BenchStack, records: list[tuple[bytes | None, bytes]], rate: float,
                stop: threading.Event, sent: list[int]) -> None:
    publisher = EventPublisher(stack.settings, client_id="bench-alerts-load")
    chunk, i = max(1, int(rate / 10)), 0
    try:
        next_at = time.monotonic()
        while not stop.is_set() and i < len(records):
            publisher.publish_raw(records[i:i + chunk])
            i += chunk
            next_at += chunk / rate
            time.sleep(max(0.0, next_at - time.monotonic()))
    finally:
        sent.append(i)
        publisher.close()


def run_alert_bench(trials: int, rate: float, pending_trials: int, pending_s: float) -> dict[str, float]:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    hooks = Webhooks()
    results: dict[str, float] = {}
    with bench_stack("benchal", processes=("worker", "api"),
                     env={"IOC_ALERT_RULES_REFRESH_S": "1"}) as stack:
        admin = {"Authorization": f"Bearer {stack.tokens['admin']}"}
        target = [{"kind": "webhook", "url": hooks.url, "secret": "bench-alerts-secret-0001"}]
        for name, area, pending in (("bench", AREA, 0.0), ("bench pending", PENDING_AREA,
                                                                   pending_s / 60)):
            answer = httpx.post(f"{stack.api_url}/api/v1/alert-rules", headers=admin, timeout=30, json={
                "name": name, "kpi": "dossier.on_time_rate", "bucket": "1d", "scope": "areas",
                "areas": [area], "comparison": "below", "threshold": 50, "recovery": 50,
                "pending_minutes": pending, "severity": "critical", "targets": target})
            answer.raise_for_status()
        seconds = 1.0 * trials + (pending_s + 2) * pending_trials + 30
        print(f"bench-alerts: simulating {int(rate * seconds):,} background events…", flush=True)
        records = [(k, v) for k, v in simulated_records(int(rate * seconds), 77, datetime.now(UTC))
                   if json.loads(v)["data"].get("area") not in (AREA, PENDING_AREA)]
        stop, sent = threading.Event(), list[int]()
        load = threading.Thread(target=_background, args=(stack, records, rate, stop, sent), daemon=True)
        if rate > 0:
            load.start()
        time.sleep(2)  # the worker re-reads rules every second; the load gets going
        publisher = EventPublisher(stack.settings, client_id="bench-alerts", linger_ms=0)
        try:
            delays = _trials(publisher, hooks, AREA, trials, "bench", 0.0)
            beyond = _trials(publisher, hooks, PENDING_AREA, pending_trials, "bench pending", pending_s)
        finally:
            stop.set()
            if load.is_alive():
                load.join()
            publisher.close()
    results.update(trials=trials, rate=rate, background_events=sum(sent),
                   p50_ms=percentile(delays, 0.5) * 1000, p99_ms=percentile(delays, 0.99) * 1000,
                   max_ms=max(delays) * 1000, max_trial=delays.index(max(delays)) + 1,
                   pending_s=pending_s, pending_trials=pending_trials)
    if beyond:
        results.update(beyond_p50_ms=percentile(beyond, 0.5) * 1000,
                       beyond_max_ms=max(beyond) * 1000)
    return results


def _trials(publisher: EventPublisher, hooks: Webhooks, area: str, trials: int, rule: str,
            pending_s: float) -> list[float]:
    delays: list[float] = []
    fired: set[int] = set()
    resolved: set[int] = set()
    for i in range(trials):
        t0 = time.time()
        publisher.publish_raw([_resolution(area, late=True)])
        alert_id, at = hooks.wait_new("alert.fired", rule, fired)
        fired.add(alert_id)
        delays.append(at - t0 - pending_s)
        publisher.publish_raw([_resolution(area, late=False)])
        resolved.add(hooks.wait_new("alert.resolved", rule, resolved)[0])
        if (i + 1) % max(1, trials // 10) == 0:
            print(f"  {rule}: {i + 1}/{trials} trials, last {delays[-1] * 1000:.0f} ms", flush=True)
    return delays


def print_alert_results(r: dict[str, float]) -> None:
    print(f"\nbench-alerts: event → webhook received, {int(r['trials'])} alerts, background load "
          f"{r['rate']:,.0f} events/s ({int(r['background_events']):,} events)")
    print(f"  delay p50 {r['p50_ms']:,.0f} ms, p99 {r['p99_ms']:,.0f} ms, max {r['max_ms']:,.0f} ms "
          f"(trial {int(r['max_trial'])})")
    if "beyond_p50_ms" in r:
        print(f"  with a {r['pending_s']:g} s pending period ({int(r['pending_trials'])} alerts), beyond "
              f"the period: p50 {r['beyond_p50_ms']:,.0f} ms, max {r['beyond_max_ms']:,.0f} ms")
